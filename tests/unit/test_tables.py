"""Tables for notebooks (issue 15): HTML cells that never break a name or a number, and text
that lines up."""

import pytest
from hypothesis import given, strategies as st

from meshlab.tables import Table
from meshlab.telemetry.paths import Hop, RequestPath, path_html


def test_html_cells_do_not_wrap_except_the_last_column():
    t = Table(("hop", "time", "outcome"), [("productpage-v1-0/istio-proxy", 6094.12, "a long error " * 5)])
    html = t._repr_html_()
    assert html.count("white-space:nowrap") == 4  # 2 header cells and 2 data cells: not the last column
    assert ">6094.12<" in html and "text-align:right" in html


def test_html_is_escaped():
    assert "&lt;b&gt;" in Table(("a",), [("<b>",)])._repr_html_()


@given(
    st.lists(
        st.tuples(
            st.text(max_size=12).filter(lambda x: "\n" not in x and "\r" not in x), st.integers(0, 10**6)
        ),
        max_size=8,
    )
)
def test_text_columns_line_up(rows):
    lines = str(Table(("name", "n"), rows)).split("\n")
    w = max([len("name"), *(len(name) for name, _ in rows)])
    assert len(lines) == len(rows) + 1
    assert [ln[w + 2 :] for ln in lines] == ["n", *(str(n) for _, n in rows)]


def test_a_row_of_the_wrong_length_is_an_error():
    with pytest.raises(ValueError, match="a row has 1 cells, the header 2"):
        Table(("a", "b"), [("x",)])


def test_a_path_is_shown_in_jupyter_as_a_table_whose_times_cannot_break():
    hops = (
        Hop("client-0", "client", "L7", 0, 0.0, 6.09412, 200),
        Hop("reviews-v2-0", "app", "L7", 1, 0.1, 3.1, None, error="upstream request timeout " * 4),
    )
    p = RequestPath("t1", hops)
    html = p._repr_html_()
    assert html == path_html(p) and html.count("<tr>") == 3
    assert "6094.12&nbsp;ms" in html  # a non-breaking space: "6094.12" and "ms" stay together
    assert "white-space:nowrap" in html and "upstream request timeout" in html


def test_a_paths_table_shows_a_peers_identity_whole_on_hover_and_breaks_only_between_items():
    """A long SPIFFE identity once pushed the time and outcome columns off a notebook's screen."""
    peer = "spiffe://cluster.local/ns/default/sa/bookinfo-productpage"
    hop = Hop(
        "ztunnel-node-2", "ztunnel", "L4", 1, 0.0, 3.57, None, direction="inbound", mtls=True, identity=peer
    )
    html = path_html(RequestPath("t1", (Hop("client-0", "client", "L7", 0, 0.0, 6.1, 200), hop)))
    assert f"title='{peer}'" in html and "mTLS&nbsp;from&nbsp;ns/default/sa/bookinfo-productpage" in html
    assert "ztunnel,&nbsp;inbound" not in html and "ztunnel, inbound, " in html  # a line may break there
    assert "mTLS from cluster.local/ns/default/sa/bookinfo-productpage" in str(RequestPath("t1", (hop,)))

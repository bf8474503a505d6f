"""productpage sends ``end-user`` for its signed-in user only, as Istio's productpage does: an
``end-user`` header the client sends is not forwarded (notebook 05 asks about it)."""

from test_apps import PRODUCTPAGE_URL, mesh, run


def test_an_end_user_header_from_the_client_is_not_forwarded():
    async def main():
        async with mesh() as m:
            header_only = await m.get(PRODUCTPAGE_URL, [("end-user", "jason")])
            both = await m.get(PRODUCTPAGE_URL, [("end-user", "mallory"), ("cookie", "user=jason")])
            return header_only, both, list(m.seen["reviews-v1-0"]), list(m.seen["details-v1-0"])

    header_only, both, reviews_seen, details_seen = run(main())
    assert header_only["status"] == both["status"] == 200
    assert [r.header("end-user") for r in reviews_seen] == [None, "jason"]
    assert [r.header("end-user") for r in details_seen] == [None, "jason"]

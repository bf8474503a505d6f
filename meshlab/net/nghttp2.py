"""libnghttp2, the HTTP/2 library of curl, Apache httpd and Node, bound with cffi in ABI mode.

Only what HBONE needs is declared: a session fed and drained in memory (``mem_recv`` /
``mem_send``: sans-IO, the driver moves the bytes), header and data callbacks, requests,
responses, data providers, flow control by hand (``consume``) and resets. ABI mode reads the
shared library at run time, so no compiler or ``-dev`` package is needed: Debian and Ubuntu ship
``libnghttp2.so.14`` with curl (so does Binder's image).

``lib`` is None where the library cannot be loaded; :func:`why_missing` says why. The declarations
follow ``nghttp2/nghttp2.h`` of 1.43 and later (ABI ``.so.14``); only the stable 1.x calls are used
(not the ``*2`` variants that 1.61 added).
"""

from __future__ import annotations

import ctypes.util

import cffi

ffi = cffi.FFI()
ffi.cdef("""
typedef struct nghttp2_session nghttp2_session;
typedef struct nghttp2_session_callbacks nghttp2_session_callbacks;
typedef struct nghttp2_option nghttp2_option;

typedef struct {
  uint8_t *name; uint8_t *value; size_t namelen; size_t valuelen; uint8_t flags;
} nghttp2_nv;

typedef struct {
  size_t length; int32_t stream_id; uint8_t type; uint8_t flags; uint8_t reserved;
} nghttp2_frame_hd;

typedef struct { int32_t stream_id; int32_t weight; uint8_t exclusive; } nghttp2_priority_spec;

typedef struct {
  nghttp2_frame_hd hd; size_t padlen; nghttp2_priority_spec pri_spec;
  nghttp2_nv *nva; size_t nvlen; int cat;
} nghttp2_headers;

typedef struct { nghttp2_frame_hd hd; uint32_t error_code; } nghttp2_rst_stream;

typedef struct {
  nghttp2_frame_hd hd; int32_t last_stream_id; uint32_t error_code;
  uint8_t *opaque_data; size_t opaque_data_len; uint8_t reserved;
} nghttp2_goaway;

typedef union {
  nghttp2_frame_hd hd; nghttp2_headers headers; nghttp2_rst_stream rst_stream; nghttp2_goaway goaway;
} nghttp2_frame;

typedef union { int fd; void *ptr; } nghttp2_data_source;

typedef ssize_t (*nghttp2_data_source_read_callback)(
  nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length,
  uint32_t *data_flags, nghttp2_data_source *source, void *user_data);

typedef struct {
  nghttp2_data_source source; nghttp2_data_source_read_callback read_callback;
} nghttp2_data_provider;

typedef struct { int32_t settings_id; uint32_t value; } nghttp2_settings_entry;

typedef struct {
  int age; int version_num; const char *version_str; const char *proto_str;
} nghttp2_info;

typedef int (*nghttp2_on_frame_recv_callback)(nghttp2_session *, const nghttp2_frame *, void *);
typedef int (*nghttp2_on_data_chunk_recv_callback)(nghttp2_session *, uint8_t, int32_t,
                                                   const uint8_t *, size_t, void *);
typedef int (*nghttp2_on_stream_close_callback)(nghttp2_session *, int32_t, uint32_t, void *);
typedef int (*nghttp2_on_header_callback)(nghttp2_session *, const nghttp2_frame *,
                                          const uint8_t *, size_t, const uint8_t *, size_t,
                                          uint8_t, void *);
typedef int (*nghttp2_on_invalid_frame_recv_callback)(nghttp2_session *, const nghttp2_frame *,
                                                      int, void *);

int nghttp2_session_callbacks_new(nghttp2_session_callbacks **callbacks_ptr);
void nghttp2_session_callbacks_del(nghttp2_session_callbacks *callbacks);
void nghttp2_session_callbacks_set_on_frame_recv_callback(nghttp2_session_callbacks *,
                                                          nghttp2_on_frame_recv_callback);
void nghttp2_session_callbacks_set_on_data_chunk_recv_callback(nghttp2_session_callbacks *,
                                                               nghttp2_on_data_chunk_recv_callback);
void nghttp2_session_callbacks_set_on_stream_close_callback(nghttp2_session_callbacks *,
                                                            nghttp2_on_stream_close_callback);
void nghttp2_session_callbacks_set_on_header_callback(nghttp2_session_callbacks *,
                                                      nghttp2_on_header_callback);

int nghttp2_option_new(nghttp2_option **option_ptr);
void nghttp2_option_del(nghttp2_option *option);
void nghttp2_option_set_no_auto_window_update(nghttp2_option *option, int val);
void nghttp2_option_set_peer_max_concurrent_streams(nghttp2_option *option, uint32_t val);

int nghttp2_session_client_new2(nghttp2_session **session_ptr, const nghttp2_session_callbacks *,
                                void *user_data, const nghttp2_option *option);
int nghttp2_session_server_new2(nghttp2_session **session_ptr, const nghttp2_session_callbacks *,
                                void *user_data, const nghttp2_option *option);
void nghttp2_session_del(nghttp2_session *session);

ssize_t nghttp2_session_mem_recv(nghttp2_session *session, const uint8_t *in, size_t inlen);
ssize_t nghttp2_session_mem_send(nghttp2_session *session, const uint8_t **data_ptr);
int nghttp2_session_want_read(nghttp2_session *session);
int nghttp2_session_want_write(nghttp2_session *session);

int nghttp2_submit_settings(nghttp2_session *session, uint8_t flags,
                            const nghttp2_settings_entry *iv, size_t niv);
int nghttp2_submit_window_update(nghttp2_session *session, uint8_t flags, int32_t stream_id,
                                 int32_t window_size_increment);
int32_t nghttp2_submit_request(nghttp2_session *session, const nghttp2_priority_spec *pri_spec,
                               const nghttp2_nv *nva, size_t nvlen,
                               const nghttp2_data_provider *data_prd, void *stream_user_data);
int nghttp2_submit_response(nghttp2_session *session, int32_t stream_id, const nghttp2_nv *nva,
                            size_t nvlen, const nghttp2_data_provider *data_prd);
int nghttp2_submit_rst_stream(nghttp2_session *session, uint8_t flags, int32_t stream_id,
                              uint32_t error_code);
int nghttp2_session_resume_data(nghttp2_session *session, int32_t stream_id);
int nghttp2_session_consume(nghttp2_session *session, int32_t stream_id, size_t size);
int nghttp2_session_terminate_session(nghttp2_session *session, uint32_t error_code);
uint32_t nghttp2_session_get_remote_settings(nghttp2_session *session, int32_t id);
size_t nghttp2_session_get_outbound_queue_size(nghttp2_session *session);

const char *nghttp2_strerror(int lib_error_code);
nghttp2_info *nghttp2_version(int least_version);
""")

# nghttp2_frame_type
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE = range(9)
# nghttp2_flag
FLAG_NONE, FLAG_END_STREAM = 0, 0x01
# nghttp2_nv_flag
NV_FLAG_NONE, NV_FLAG_NO_INDEX, NV_FLAG_NO_COPY_NAME, NV_FLAG_NO_COPY_VALUE = 0, 0x01, 0x02, 0x04
# nghttp2_data_flag
DATA_FLAG_EOF, DATA_FLAG_NO_END_STREAM = 0x01, 0x02
# nghttp2_settings_id
SETTINGS_MAX_CONCURRENT_STREAMS, SETTINGS_INITIAL_WINDOW_SIZE = 0x03, 0x04
# nghttp2_error
ERR_DEFERRED, ERR_TEMPORAL_CALLBACK_FAILURE, ERR_CALLBACK_FAILURE = -508, -521, -902
# nghttp2_error_code (HTTP/2's)
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, REFUSED_STREAM, CANCEL = 0x0, 0x1, 0x2, 0x7, 0x8

_NAMES = ("nghttp2", "libnghttp2.so.14")


def _load():
    errors = []
    for name in (ctypes.util.find_library("nghttp2"), *_NAMES):
        if not name:
            continue
        try:
            lib = ffi.dlopen(name)
            info = lib.nghttp2_version(0)
            return lib, ffi.string(info.version_str).decode(), None
        except (OSError, AttributeError) as e:
            errors.append(f"{name}: {e}")
    return (
        None,
        None,
        "libnghttp2 not found ("
        + "; ".join(errors or ["no library named nghttp2"])
        + "); on Debian/Ubuntu: apt-get install libnghttp2-14",
    )


lib, version, _missing = _load()


def why_missing() -> str | None:
    """None when libnghttp2 is loaded, else why not."""
    return _missing


def strerror(code: int) -> str:
    return ffi.string(lib.nghttp2_strerror(code)).decode()

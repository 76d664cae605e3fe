// Hand-written canonical-ABI bindings for the few wasi:http and wasi:io functions a simple handler
// needs (what wit-bindgen would generate, which is not packaged for Debian). Resources are i32
// handles; results come back through a return area the caller passes.
#ifndef WASI_HTTP_H
#define WASI_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define WASI_HTTP_IMPORT(name) __attribute__((import_module("wasi:http/types@0.2.10"), import_name(name)))
#define WASI_IO_IMPORT(name) __attribute__((import_module("wasi:io/streams@0.2.10"), import_name(name)))

typedef int32_t wasi_handle;

/** option<string> or result<handle>: a discriminant and a payload, as the canonical ABI lays them out. */
typedef struct { uint8_t is_some; uint8_t pad[3]; const char *ptr; size_t len; } wasi_option_string;
typedef struct { uint8_t is_err; uint8_t pad[3]; wasi_handle handle; } wasi_result_handle;

WASI_HTTP_IMPORT("[method]incoming-request.path-with-query") extern void wasi_incoming_request_path_with_query(wasi_handle self, wasi_option_string *ret);
WASI_HTTP_IMPORT("[resource-drop]incoming-request") extern void wasi_incoming_request_drop(wasi_handle self);
WASI_HTTP_IMPORT("[constructor]fields") extern wasi_handle wasi_fields_new(void);
WASI_HTTP_IMPORT("[method]fields.append") extern void wasi_fields_append(wasi_handle self, const char *name, size_t name_len, const uint8_t *value, size_t value_len, uint8_t ret[4]);
WASI_HTTP_IMPORT("[constructor]outgoing-response") extern wasi_handle wasi_outgoing_response_new(wasi_handle headers);
WASI_HTTP_IMPORT("[method]outgoing-response.set-status-code") extern int32_t wasi_outgoing_response_set_status_code(wasi_handle self, int32_t status);
WASI_HTTP_IMPORT("[method]outgoing-response.body") extern void wasi_outgoing_response_body(wasi_handle self, wasi_result_handle *ret);
WASI_HTTP_IMPORT("[method]outgoing-body.write") extern void wasi_outgoing_body_write(wasi_handle self, wasi_result_handle *ret);
WASI_HTTP_IMPORT("[static]outgoing-body.finish") extern void wasi_outgoing_body_finish(wasi_handle self, int32_t has_trailers, wasi_handle trailers, uint64_t ret[8]);
// result<outgoing-response, error-code>, flattened: 0 = ok, followed by the handle and padding slots.
WASI_HTTP_IMPORT("[static]response-outparam.set") extern void wasi_response_outparam_set(wasi_handle param, int32_t is_err, int32_t a, int32_t b, int64_t c, int32_t d, int32_t e, int32_t f, int32_t g);
WASI_IO_IMPORT("[method]output-stream.blocking-write-and-flush") extern void wasi_output_stream_blocking_write_and_flush(wasi_handle self, const uint8_t *buf, size_t len, uint32_t ret[3]);
WASI_IO_IMPORT("[resource-drop]output-stream") extern void wasi_output_stream_drop(wasi_handle self);

/** The host allocates strings it returns (e.g. the path) with this. */
__attribute__((export_name("cabi_realloc"))) void *cabi_realloc(void *ptr, size_t old_size, size_t align, size_t new_size) {
  (void)old_size;
  if (new_size == 0) return (void *)align;
  return realloc(ptr, new_size);
}

/** Sends a complete response: status, one content-type header, and the body. */
static void wasi_respond(wasi_handle response_out, int32_t status, const char *content_type, const uint8_t *body, size_t body_len) {
  uint8_t header_ret[4];
  wasi_handle headers = wasi_fields_new();
  wasi_fields_append(headers, "content-type", 12, (const uint8_t *)content_type, __builtin_strlen(content_type), header_ret);
  wasi_handle response = wasi_outgoing_response_new(headers);
  wasi_outgoing_response_set_status_code(response, status);
  wasi_result_handle body_res, stream_res;
  wasi_outgoing_response_body(response, &body_res);
  wasi_outgoing_body_write(body_res.handle, &stream_res);
  wasi_response_outparam_set(response_out, 0, response, 0, 0, 0, 0, 0, 0);
  uint32_t write_ret[3];
  // blocking-write-and-flush takes at most 4096 bytes per call.
  for (size_t off = 0; off < body_len; off += 4096) {
    size_t n = body_len - off < 4096 ? body_len - off : 4096;
    wasi_output_stream_blocking_write_and_flush(stream_res.handle, body + off, n, write_ret);
    if (write_ret[0] != 0) break;
  }
  wasi_output_stream_drop(stream_res.handle);
  uint64_t finish_ret[8];
  wasi_outgoing_body_finish(body_res.handle, 0, 0, finish_ret);
}

#endif

// %{name}: an HTTP component in C. Every request runs in a fresh WebAssembly instance.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wasi_http.h"

/** Spin calls this export for each request routed to the component (wasi:http incoming-handler). */
__attribute__((export_name("wasi:http/incoming-handler@0.2.10#handle")))
void handle(wasi_handle request, wasi_handle response_out) {
  wasi_option_string path;
  wasi_incoming_request_path_with_query(request, &path);
  wasi_incoming_request_drop(request);

  char body[512];
  int n = snprintf(body, sizeof body, "Hello from %{name}, written in C! You asked for %.*s\n",
                   path.is_some ? (int)path.len : 1, path.is_some ? path.ptr : "/");
  if (path.is_some) free((void *)path.ptr);
  wasi_respond(response_out, 200, "text/plain; charset=utf-8", (const uint8_t *)body, (size_t)n);
}

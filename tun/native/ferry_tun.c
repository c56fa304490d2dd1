// ferry_tun: the smallest native layer ferry needs to move packets through a Linux TUN/TAP
// device at the device's own rate.
//
// - open():       /dev/net/tun, O_RDWR|O_NONBLOCK|O_CLOEXEC, ioctl(TUNSETIFF), optional
//                 IFF_VNET_HDR / IFF_MULTI_QUEUE, TUNSETOFFLOAD.
// - poller:       a libuv uv_poll_t on the fd, on the main loop (no worker thread ever holds a
//                 packet or blocks in read()), calling a JS function when readable/writable.
// - readBatch():  read() until EAGAIN or the batch is full, packets packed into one arena.
// - writeBatch(): write() packets from an arena; writeArray(): from a JS array of Uint8Array.
//
// Plain N-API C (node_api.h from Node's headers), no npm dependency. Errors thrown to JS carry
// `code` (errno name, e.g. 'EPERM'), `errno` (positive) and `syscall`; tun/device.ts turns
// them into messages that say what to do.
#define NAPI_VERSION 8
#define _GNU_SOURCE
#include <node_api.h>
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

// ---------------------------------------------------------------------------------------------
// helpers

#define CHECK(env, call)                                                        \
  do {                                                                          \
    if ((call) != napi_ok) {                                                    \
      throw_last(env, #call);                                                   \
      return NULL;                                                              \
    }                                                                           \
  } while (0)

static void throw_last(napi_env env, const char* what) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) return;
  const napi_extended_error_info* info = NULL;
  napi_get_last_error_info(env, &info);
  char msg[256];
  snprintf(msg, sizeof msg, "ferry_tun: %s failed: %s", what,
           info && info->error_message ? info->error_message : "napi error");
  napi_throw_error(env, NULL, msg);
}

static napi_value type_error(napi_env env, const char* msg) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return NULL;
}

// Throws an Error "<syscall> <subject>: <strerror>" with code/errno/syscall properties.
static napi_value throw_errno(napi_env env, int e, const char* syscall, const char* subject) {
  char msg[320];
  const char* name = uv_err_name(-e);  // libuv error codes on Unix are -errno
  snprintf(msg, sizeof msg, "%s%s%s: %s (%s)", syscall, subject ? " " : "", subject ? subject : "",
           strerror(e), name);
  napi_value m, code, err, no, sc;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
  napi_create_error(env, code, m, &err);
  napi_set_named_property(env, err, "code", code);
  napi_create_int32(env, e, &no);
  napi_set_named_property(env, err, "errno", no);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sc);
  napi_set_named_property(env, err, "syscall", sc);
  napi_throw(env, err);
  return NULL;
}

static bool get_i32(napi_env env, napi_value v, int32_t* out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) return false;
  return napi_get_value_int32(env, v, out) == napi_ok;
}

static bool get_bool(napi_env env, napi_value v, bool* out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return false;
  if (t == napi_undefined || t == napi_null) { *out = false; return true; }
  if (t != napi_boolean) return false;
  return napi_get_value_bool(env, v, out) == napi_ok;
}

// A typed array's bytes. `want` is the required element type; len is in elements.
static bool get_typed(napi_env env, napi_value v, napi_typedarray_type want, void** data, size_t* len) {
  bool is = false;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return false;
  napi_typedarray_type t;
  napi_value ab;
  size_t off;
  if (napi_get_typedarray_info(env, v, &t, len, data, &ab, &off) != napi_ok) return false;
  return t == want || (want == napi_uint8_array && t == napi_uint8_clamped_array);
}

static napi_value num(napi_env env, double d) {
  napi_value v;
  napi_create_double(env, d, &v);
  return v;
}

// ---------------------------------------------------------------------------------------------
// open(name: string, tap: boolean, vnetHdr: boolean, multiQueue: boolean, exclusive: boolean)
//   -> { fd: number, name: string }
// An empty name lets the kernel choose (tun%d / tap%d); a name containing %d is a pattern.

static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 5) return type_error(env, "open(name, tap, vnetHdr, multiQueue, exclusive)");
  char name[IFNAMSIZ + 1];
  size_t nlen = 0;
  if (napi_get_value_string_utf8(env, argv[0], name, sizeof name, &nlen) != napi_ok)
    return type_error(env, "open: name must be a string");
  if (nlen >= IFNAMSIZ) return type_error(env, "open: name longer than 15 bytes");
  bool tap, vnet, mq, excl;
  if (!get_bool(env, argv[1], &tap) || !get_bool(env, argv[2], &vnet) || !get_bool(env, argv[3], &mq) ||
      !get_bool(env, argv[4], &excl))
    return type_error(env, "open: flags must be booleans");

  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, errno, "open", "/dev/net/tun");

  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = (tap ? IFF_TAP : IFF_TUN) | IFF_NO_PI;
  if (vnet) ifr.ifr_flags |= IFF_VNET_HDR;
  if (mq) ifr.ifr_flags |= IFF_MULTI_QUEUE;
  if (excl) ifr.ifr_flags |= IFF_TUN_EXCL;
  memcpy(ifr.ifr_name, name, nlen);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, e, "TUNSETIFF", nlen ? name : "(kernel-chosen name)");
  }

  napi_value obj, vfd, vname;
  CHECK(env, napi_create_object(env, &obj));
  CHECK(env, napi_create_int32(env, fd, &vfd));
  CHECK(env, napi_create_string_utf8(env, ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ), &vname));
  CHECK(env, napi_set_named_property(env, obj, "fd", vfd));
  CHECK(env, napi_set_named_property(env, obj, "name", vname));
  return obj;
}

// setOffload(fd, flags): ioctl(TUNSETOFFLOAD, TUN_F_* bitmask). Needs IFF_VNET_HDR.
static napi_value js_set_offload(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd, flags;
  if (argc < 2 || !get_i32(env, argv[0], &fd) || !get_i32(env, argv[1], &flags))
    return type_error(env, "setOffload(fd: number, flags: number)");
  if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)(uint32_t)flags) < 0)
    return throw_errno(env, errno, "TUNSETOFFLOAD", NULL);
  return NULL;
}

// close(fd). The poller must be closed first (pollClose).
static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  if (argc < 1 || !get_i32(env, argv[0], &fd)) return type_error(env, "close(fd: number)");
  if (close(fd) < 0 && errno != EINTR) return throw_errno(env, errno, "close", NULL);
  return NULL;
}

// ---------------------------------------------------------------------------------------------
// readBatch(fd, arena: Uint8Array, lens: Uint32Array, maxPackets: number, maxPkt: number) -> count
// Reads packets back to back into `arena` (packet i starts at the sum of lens[0..i)) until the
// fd reports EAGAIN, `maxPackets` (≤ lens.length) are read, or fewer than `maxPkt` bytes of
// arena remain (a packet must never be truncated). Errors other than EAGAIN/EINTR throw,
// unless some packets were already read (then they are returned and the next call throws).

static napi_value js_read_batch(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd, maxPackets, maxPkt;
  uint8_t* arena;
  uint32_t* lens;
  size_t alen, nlens;
  if (argc < 5 || !get_i32(env, argv[0], &fd) ||
      !get_typed(env, argv[1], napi_uint8_array, (void**)&arena, &alen) ||
      !get_typed(env, argv[2], napi_uint32_array, (void**)&lens, &nlens) ||
      !get_i32(env, argv[3], &maxPackets) || !get_i32(env, argv[4], &maxPkt) || maxPkt <= 0)
    return type_error(env, "readBatch(fd, arena: Uint8Array, lens: Uint32Array, maxPackets, maxPkt)");
  size_t limit = (size_t)(maxPackets < 0 ? 0 : maxPackets);
  if (limit > nlens) limit = nlens;

  size_t n = 0, off = 0;
  while (n < limit && alen - off >= (size_t)maxPkt) {
    ssize_t r = read(fd, arena + off, alen - off);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (n > 0) break;
      return throw_errno(env, errno, "read", NULL);
    }
    lens[n++] = (uint32_t)r;
    off += (size_t)r;
  }
  return num(env, (double)n);
}

// writeBatch(fd, arena: Uint8Array, lens: Uint32Array, count, errs?: Int32Array(2)) -> consumed
// Writes `count` packets laid out back to back in `arena`. Stops at EAGAIN (returns how many
// were consumed; wait for writability and call again with the rest). A packet the kernel
// rejects (EINVAL for a malformed header, EIO when the device is down...) is consumed and
// counted in errs[0], with the last errno in errs[1]; EBADF/EBADFD throw.

static bool fatal_write_errno(int e) { return e == EBADF || e == EBADFD || e == EFAULT; }

static napi_value js_write_batch(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd, count;
  uint8_t* arena;
  uint32_t* lens;
  int32_t* errs = NULL;
  size_t alen, nlens, nerrs = 0;
  if (argc < 4 || !get_i32(env, argv[0], &fd) ||
      !get_typed(env, argv[1], napi_uint8_array, (void**)&arena, &alen) ||
      !get_typed(env, argv[2], napi_uint32_array, (void**)&lens, &nlens) || !get_i32(env, argv[3], &count))
    return type_error(env, "writeBatch(fd, arena: Uint8Array, lens: Uint32Array, count, errs?: Int32Array)");
  if (argc >= 5) {
    napi_valuetype t;
    napi_typeof(env, argv[4], &t);
    if (t != napi_undefined && (!get_typed(env, argv[4], napi_int32_array, (void**)&errs, &nerrs) || nerrs < 2))
      return type_error(env, "writeBatch: errs must be an Int32Array of length >= 2");
  }
  size_t limit = (size_t)(count < 0 ? 0 : count);
  if (limit > nlens) limit = nlens;
  size_t i = 0, off = 0;
  while (i < limit) {
    size_t l = lens[i];
    if (off + l > alen) return type_error(env, "writeBatch: lens run past the end of the arena");
    ssize_t r = write(fd, arena + off, l);
    if (r < 0) {
      int e = errno;
      if (e == EINTR) continue;
      if (e == EAGAIN || e == EWOULDBLOCK) break;
      if (fatal_write_errno(e)) return throw_errno(env, e, "write", NULL);
      if (errs) { errs[0]++; errs[1] = e; }
    }
    off += l;
    i++;
  }
  return num(env, (double)i);
}

// writeArray(fd, pkts: Uint8Array[], start, end, errs?: Int32Array(2)) -> consumed
// Same as writeBatch but for an array of separate packets (no copy into an arena).
static napi_value js_write_array(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd, start, end;
  bool isArr = false;
  int32_t* errs = NULL;
  size_t nerrs = 0;
  if (argc < 4 || !get_i32(env, argv[0], &fd) || napi_is_array(env, argv[1], &isArr) != napi_ok || !isArr ||
      !get_i32(env, argv[2], &start) || !get_i32(env, argv[3], &end))
    return type_error(env, "writeArray(fd, pkts: Uint8Array[], start, end, errs?: Int32Array)");
  if (argc >= 5) {
    napi_valuetype t;
    napi_typeof(env, argv[4], &t);
    if (t != napi_undefined && (!get_typed(env, argv[4], napi_int32_array, (void**)&errs, &nerrs) || nerrs < 2))
      return type_error(env, "writeArray: errs must be an Int32Array of length >= 2");
  }
  uint32_t alen;
  CHECK(env, napi_get_array_length(env, argv[1], &alen));
  if (start < 0) start = 0;
  if ((uint32_t)end > alen) end = (int32_t)alen;
  int32_t i = start;
  while (i < end) {
    napi_value el;
    CHECK(env, napi_get_element(env, argv[1], (uint32_t)i, &el));
    uint8_t* p;
    size_t l;
    if (!get_typed(env, el, napi_uint8_array, (void**)&p, &l)) return type_error(env, "writeArray: packets must be Uint8Array");
    ssize_t r = write(fd, p, l);
    if (r < 0) {
      int e = errno;
      if (e == EINTR) continue;
      if (e == EAGAIN || e == EWOULDBLOCK) break;
      if (fatal_write_errno(e)) return throw_errno(env, e, "write", NULL);
      if (errs) { errs[0]++; errs[1] = e; }
    }
    i++;
  }
  return num(env, (double)(i - start));
}

// writeOne(fd, pkt: Uint8Array) -> 1 (written or rejected, see writeBatch) | 0 (EAGAIN)
static napi_value js_write_one(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  uint8_t* p;
  size_t l;
  if (argc < 2 || !get_i32(env, argv[0], &fd) || !get_typed(env, argv[1], napi_uint8_array, (void**)&p, &l))
    return type_error(env, "writeOne(fd, pkt: Uint8Array)");
  for (;;) {
    ssize_t r = write(fd, p, l);
    if (r >= 0) break;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return num(env, 0);
    if (fatal_write_errno(errno)) return throw_errno(env, errno, "write", NULL);
    return num(env, -errno);  // rejected by the kernel: -errno
  }
  return num(env, 1);
}

// ---------------------------------------------------------------------------------------------
// Poller: uv_poll_t on the main loop.
//   pollStart(fd, events, cb(status, events)) -> handle   (events: 1 readable | 2 writable)
//   pollUpdate(handle, events)      change the interest set (0 pauses without closing)
//   pollRef(handle, ref: boolean)   whether the handle keeps the event loop alive
//   pollClose(handle)               stop and release; idempotent; safe inside the callback

typedef struct poller {
  uv_poll_t h;
  napi_env env;
  napi_ref cb;
  napi_async_context actx;
  int closed;
  int owners;  // the uv handle (until its close callback) + the JS external (until finalized)
} poller;

static void poller_release(poller* p) {
  if (--p->owners == 0) free(p);
}

static void poller_free_cb(uv_handle_t* h) { poller_release((poller*)h->data); }

static void poller_close(poller* p) {
  if (p->closed) return;
  p->closed = 1;
  uv_poll_stop(&p->h);
  napi_env env = p->env;
  napi_remove_env_cleanup_hook(env, (void (*)(void*))poller_close, p);
  if (p->cb) { napi_delete_reference(env, p->cb); p->cb = NULL; }
  if (p->actx) { napi_async_destroy(env, p->actx); p->actx = NULL; }
  uv_close((uv_handle_t*)&p->h, poller_free_cb);
}

static void poller_cb(uv_poll_t* h, int status, int events) {
  poller* p = (poller*)h->data;
  if (p->closed || !p->cb) return;
  napi_env env = p->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn, recv, argv[2], result;
  if (napi_get_reference_value(env, p->cb, &fn) == napi_ok && fn) {
    napi_get_global(env, &recv);  // napi_make_callback needs an object receiver
    napi_create_int32(env, status, &argv[0]);
    napi_create_int32(env, events, &argv[1]);
    // napi_make_callback (not napi_call_function): runs microtasks and async hooks as for any
    // other I/O callback.
    napi_status st = napi_make_callback(env, p->actx, recv, fn, 2, argv, &result);
    if (st == napi_pending_exception) {
      napi_value ex;
      napi_get_and_clear_last_exception(env, &ex);
      napi_fatal_exception(env, ex);  // -> process 'uncaughtException', like any callback
    }
  }
  napi_close_handle_scope(env, scope);
}

static void poller_finalize(napi_env env, void* data, void* hint) {
  (void)env; (void)hint;
  poller_close((poller*)data);
  poller_release((poller*)data);
}

static napi_value js_poll_start(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd, events;
  napi_valuetype t = napi_undefined;
  if (argc >= 3) napi_typeof(env, argv[2], &t);
  if (argc < 3 || !get_i32(env, argv[0], &fd) || !get_i32(env, argv[1], &events) || t != napi_function)
    return type_error(env, "pollStart(fd: number, events: number, cb: (status, events) => void)");
  uv_loop_t* loop;
  CHECK(env, napi_get_uv_event_loop(env, &loop));
  poller* p = calloc(1, sizeof *p);
  if (!p) return throw_errno(env, ENOMEM, "pollStart", NULL);
  p->env = env;
  p->owners = 1;
  int r = uv_poll_init(loop, &p->h, fd);
  if (r < 0) { free(p); return throw_errno(env, -r, "uv_poll_init", NULL); }
  p->h.data = p;
  napi_value res_name;
  napi_create_string_utf8(env, "ferry:TunPoll", NAPI_AUTO_LENGTH, &res_name);
  if (napi_async_init(env, NULL, res_name, &p->actx) != napi_ok ||
      napi_create_reference(env, argv[2], 1, &p->cb) != napi_ok) {
    poller_close(p);
    throw_last(env, "pollStart");
    return NULL;
  }
  napi_add_env_cleanup_hook(env, (void (*)(void*))poller_close, p);
  if (events & (UV_READABLE | UV_WRITABLE)) {
    r = uv_poll_start(&p->h, events & (UV_READABLE | UV_WRITABLE), poller_cb);
    if (r < 0) { poller_close(p); return throw_errno(env, -r, "uv_poll_start", NULL); }
  }
  napi_value ext;
  if (napi_create_external(env, p, poller_finalize, NULL, &ext) != napi_ok) {
    poller_close(p);
    throw_last(env, "pollStart");
    return NULL;
  }
  p->owners++;
  return ext;
}

static poller* get_poller(napi_env env, napi_value v) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external) return NULL;
  void* d = NULL;
  napi_get_value_external(env, v, &d);
  return (poller*)d;
}

static napi_value js_poll_update(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  poller* p = argc >= 1 ? get_poller(env, argv[0]) : NULL;
  int32_t events;
  if (!p || argc < 2 || !get_i32(env, argv[1], &events)) return type_error(env, "pollUpdate(handle, events)");
  if (p->closed) return NULL;
  events &= UV_READABLE | UV_WRITABLE;
  int r = events ? uv_poll_start(&p->h, events, poller_cb) : uv_poll_stop(&p->h);
  if (r < 0) return throw_errno(env, -r, "uv_poll_start", NULL);
  return NULL;
}

static napi_value js_poll_ref(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  poller* p = argc >= 1 ? get_poller(env, argv[0]) : NULL;
  bool ref;
  if (!p || argc < 2 || !get_bool(env, argv[1], &ref)) return type_error(env, "pollRef(handle, ref: boolean)");
  if (p->closed) return NULL;
  if (ref) uv_ref((uv_handle_t*)&p->h); else uv_unref((uv_handle_t*)&p->h);
  return NULL;
}

static napi_value js_poll_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  poller* p = argc >= 1 ? get_poller(env, argv[0]) : NULL;
  if (!p) return type_error(env, "pollClose(handle)");
  poller_close(p);
  return NULL;
}

// ---------------------------------------------------------------------------------------------

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setOffload", NULL, js_set_offload, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"readBatch", NULL, js_read_batch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"writeBatch", NULL, js_write_batch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"writeArray", NULL, js_write_array, NULL, NULL, NULL, napi_enumerable, NULL},
      {"writeOne", NULL, js_write_one, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pollStart", NULL, js_poll_start, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pollUpdate", NULL, js_poll_update, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pollRef", NULL, js_poll_ref, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pollClose", NULL, js_poll_close, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  // Constants the JS side needs (linux/if_tun.h).
  napi_value c;
  napi_create_object(env, &c);
  struct { const char* k; int v; } consts[] = {
      {"TUN_F_CSUM", TUN_F_CSUM}, {"TUN_F_TSO4", TUN_F_TSO4}, {"TUN_F_TSO6", TUN_F_TSO6},
      {"TUN_F_TSO_ECN", TUN_F_TSO_ECN}, {"TUN_F_UFO", TUN_F_UFO},
      {"READABLE", UV_READABLE}, {"WRITABLE", UV_WRITABLE},
  };
  for (size_t i = 0; i < sizeof consts / sizeof consts[0]; i++) {
    napi_value v;
    napi_create_int32(env, consts[i].v, &v);
    napi_set_named_property(env, c, consts[i].k, v);
  }
  napi_set_named_property(env, exports, "constants", c);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)

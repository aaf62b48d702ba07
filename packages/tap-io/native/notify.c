/*
 * sd_notify(3) without libsystemd: one datagram to the AF_UNIX socket named by
 * NOTIFY_SOCKET. Node has no AF_UNIX SOCK_DGRAM, and a helper process (systemd-notify)
 * would be another PID, which systemd refuses under NotifyAccess=main; so the daemon's
 * own PID sends it from here. A path starting with '@' is in the abstract namespace.
 */
#include <errno.h>
#include <node_api.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static napi_value throw_errno(napi_env env, int err, const char* what) {
  char code[32];
  const char* name = err == ENOENT         ? "ENOENT"
                     : err == ECONNREFUSED ? "ECONNREFUSED"
                     : err == EACCES       ? "EACCES"
                     : err == EPROTOTYPE   ? "EPROTOTYPE"
                     : err == ENAMETOOLONG ? "ENAMETOOLONG"
                     : err == EINVAL       ? "EINVAL"
                                           : NULL;
  if (name == NULL) {
    snprintf(code, sizeof code, "E%d", err);
    name = code;
  }
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, name, msg);
  return NULL;
}

/* sdNotify(path: string, message: string): number of bytes sent. */
static napi_value SdNotify(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[sizeof(((struct sockaddr_un*)0)->sun_path) + 1];
  size_t plen = 0;
  if (argc < 2 || napi_get_value_string_utf8(env, argv[0], path, sizeof path, &plen) != napi_ok) {
    napi_throw_type_error(env, "EINVAL", "sdNotify(path, message): expected two strings");
    return NULL;
  }
  if (plen == 0 || plen >= sizeof(((struct sockaddr_un*)0)->sun_path)) return throw_errno(env, ENAMETOOLONG, "sdNotify");
  size_t mlen = 0;
  if (napi_get_value_string_utf8(env, argv[1], NULL, 0, &mlen) != napi_ok || mlen > 4096) {
    napi_throw_type_error(env, "EINVAL", "sdNotify: message must be a string of at most 4096 bytes");
    return NULL;
  }
  char msg[4097];
  napi_get_value_string_utf8(env, argv[1], msg, sizeof msg, &mlen);

  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  memcpy(sa.sun_path, path, plen);
  if (path[0] == '@') sa.sun_path[0] = '\0';
  socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen + (path[0] == '@' ? 0 : 1));

  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, "sdNotify: socket");
  ssize_t n;
  do n = sendto(fd, msg, mlen, MSG_NOSIGNAL, (struct sockaddr*)&sa, salen);
  while (n < 0 && errno == EINTR);
  int err = errno;
  close(fd);
  if (n < 0) return throw_errno(env, err, "sdNotify: sendto");
  napi_value out;
  napi_create_int64(env, (int64_t)n, &out);
  return out;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "sdNotify", NAPI_AUTO_LENGTH, SdNotify, NULL, &fn);
  napi_set_named_property(env, exports, "sdNotify", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)

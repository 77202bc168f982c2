/* Shared by the tsnet_netns addon's sources (binding.gyp). */
#ifndef TSNET_NATIVE_H
#define TSNET_NATIVE_H
#include <node_api.h>

/* Throws Error(`${syscall} ${what}: ${strerror}`) with code/errno/syscall properties (netns.c). */
void tsnet_throw_errno(napi_env env, int err, const char *syscall, const char *what);

/* hold-port.c */
napi_value HoldPort(napi_env env, napi_callback_info info);

#endif

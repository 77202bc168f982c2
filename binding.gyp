{
  "targets": [
    {
      "target_name": "tsnet_netns",
      "sources": ["core/netns/native/netns.c", "core/netns/native/hold-port.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    },
    {
      "target_name": "tsnet_cni_shim",
      "type": "executable",
      "sources": ["cni/shim/tsnet-cni-shim.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"],
      "ldflags": ["-static"],
      "defines": [
        "TSNET_NODE=\"<!(node -p process.execPath)\"",
        "TSNET_CNI_SCRIPT=\"<(module_root_dir)/bin/tsnet-cni\""
      ]
    },
    {
      "target_name": "tsnet_exit_monitor",
      "type": "executable",
      "sources": ["engine/runtime/monitor/tsnet-exit-monitor.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"],
      "ldflags": ["-static"]
    }
  ]
}

{
  "targets": [
    {
      "target_name": "tsnet_netns",
      "sources": ["core/netns/native/netns.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}

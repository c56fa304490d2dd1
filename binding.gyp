{
  # Native parts of ferry's device layer (tun/native). Built by node-gyp at `npm install`
  # against the local Node headers; plain N-API C, no npm dependency.
  "targets": [
    {
      "target_name": "ferry_tun",
      "sources": ["tun/native/ferry_tun.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers", "-Werror=implicit-function-declaration"]
    },
    {
      # Benchmark-only load generator/sink for tun/raw-ceiling.ts.
      "target_name": "ferry_udpflood",
      "type": "executable",
      "sources": ["tun/native/ferry_udpflood.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}

{
  "targets": [
    {
      "target_name": "tapio",
      "sources": ["native/tap.cc"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!(node -p \"require('path').join(require('path').dirname(require.resolve('@tapstack/frame-ring/package.json')), 'include')\")"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS_DEFAULT=0",
        "NODE_ADDON_API_CPP_EXCEPTIONS_ALL",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"
      ],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-O2"],
      "ldflags": ["-pthread"]
    },
    {
      "target_name": "tapio_notify",
      "sources": ["native/notify.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-O2"]
    },
    {
      "target_name": "tapio_aead",
      "sources": ["native/aead.c", "native/gso.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-O2"]
    }
  ]
}

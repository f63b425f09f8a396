// Package js holds the @tickgate/client ES module so the gateway can serve
// it at /tickgate.js, embedded the way config.yaml is: the page at / and
// any dashboard import the client from the gateway they talk to, with no
// build step. cmd/gateway is its only caller; Module is read-only bytes,
// safe to share between requests. The module, its types and its node and
// Chromium tests live beside this file (README.md).
package js

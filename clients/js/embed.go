// Package js holds the @tickgate/client ES module so the gateway can serve
// it at /tickgate.js, the way config.yaml is embedded: the page at / and any
// dashboard import the client from the gateway they talk to, with no build
// step. The module itself, its types and tests live beside this file.
package js

import _ "embed"

// Module is the source of tickgate.js, served as text/javascript.
//
//go:embed tickgate.js
var Module []byte

package js

import _ "embed"

// Module is the source of tickgate.js, served as text/javascript. It is
// shared by every request: never modify it.
//
//go:embed tickgate.js
var Module []byte

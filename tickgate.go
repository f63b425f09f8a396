// Package tickgate holds what belongs to the whole repository: the default
// configuration, embedded so the gateway runs from a bare binary. The code
// lives in feed/, fanout/, subscribe/ and cmd/gateway; see
// docs/architecture.md.
package tickgate

import _ "embed"

// DefaultConfig is config.yaml at the repository root: every key, its
// default and a comment. cmd/gateway loads it first, under any --config file
// and TICKGATE_ environment variables.
//
//go:embed config.yaml
var DefaultConfig []byte

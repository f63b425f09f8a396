// Package js holds the @tickgate/client ES modules so the gateway can serve
// them, embedded the way config.yaml is: the entry at /tickgate.js and the
// modules it imports at /tickgate/*.js, so the page at / and any dashboard
// import the client from the gateway they talk to, with no build step.
// cmd/gateway is its only caller; Handler serves read-only embedded bytes,
// safe to share between requests. The modules, their types and their node
// and Chromium tests live beside this file (README.md).
package js

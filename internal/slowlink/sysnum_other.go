//go:build linux && !amd64 && !arm64

package slowlink

// sysSetns is not known for this architecture: setns fails with ENOSYS,
// so Open fails and New skips.
const sysSetns = ^uintptr(0)

//go:build !linux

package slowlink

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"syscall"
)

// Config shapes a link.
type Config struct {
	Rate string
	Loss float64
}

// Link is a shaped link; there are none but on Linux.
type Link struct {
	Name       string
	Host, Peer netip.Addr
}

var errNotLinux = errors.New("slowlink: network namespaces need Linux")

func Open(Config) (*Link, error) { return nil, errNotLinux }
func (l *Link) Close() error     { return errNotLinux }
func (l *Link) DialContext(context.Context, string, string) (net.Conn, error) {
	return nil, errNotLinux
}
func CleanStale()                           {}
func Unsent(syscall.Conn) (int, error)      { return 0, errNotLinux }
func Outstanding(syscall.Conn) (int, error) { return 0, errNotLinux }

package slowlink

import (
	"net/netip"
	"sync"
)

// Config shapes a link.
type Config struct {
	// Rate is what the host sends into the namespace, in tc's units
	// ("500kbit", "1mbit"). Required.
	Rate string
	// Loss is the probability that a packet is dropped, each way, after
	// the shaper (0 to 1); 0 drops none.
	Loss float64
}

// Link is a shaped link to a network namespace (doc.go).
type Link struct {
	// Name is the namespace's.
	Name string
	// Host is the host end's address: listen on it, and a client inside
	// the namespace dials it across the link. Peer is the namespace end's,
	// the address the host sees those clients come from.
	Host, Peer netip.Addr

	closeOnce sync.Once
	closeErr  error
}

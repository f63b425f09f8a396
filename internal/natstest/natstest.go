package natstest

import (
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/tickgate/tickgate/internal/poll"
)

// Options are the options of an embedded server on loopback: port is the
// client port, -1 for any free one.
func Options(port int) *server.Options {
	return &server.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true}
}

// JetStreamOptions are Options with JetStream on, storing in dir (a
// test's TempDir; reuse it to restart a server on the same store).
func JetStreamOptions(port int, dir string) *server.Options {
	o := Options(port)
	o.JetStream = true
	o.StoreDir = dir
	return o
}

// Run starts an embedded nats-server with opts, waits until it accepts
// clients, and shuts it down when the test ends.
func Run(tb testing.TB, opts *server.Options) *server.Server {
	tb.Helper()
	s, err := server.NewServer(opts)
	if err != nil {
		tb.Fatalf("nats-server: %v", err)
	}
	tb.Cleanup(func() { Stop(s) })
	go s.Start()
	if !s.ReadyForConnections(5 * time.Second) {
		tb.Fatal("nats-server not ready after 5s")
	}
	return s
}

// Stop shuts s down and waits until it has. It may be called twice.
func Stop(s *server.Server) {
	s.Shutdown()
	s.WaitForShutdown()
}

// RunCluster starts an n-node cluster on loopback and waits until every
// node routes to all the others.
func RunCluster(tb testing.TB, n int) []*server.Server {
	tb.Helper()
	node := func(routes string) *server.Options {
		o := Options(-1)
		o.Cluster = server.ClusterOpts{Name: "tickgate", Host: "127.0.0.1", Port: -1}
		if routes != "" {
			o.Routes = server.RoutesFromStr(routes)
		}
		return o
	}
	seed := Run(tb, node(""))
	routes := fmt.Sprintf("nats://127.0.0.1:%d", seed.ClusterAddr().Port)
	nodes := []*server.Server{seed}
	for len(nodes) < n {
		nodes = append(nodes, Run(tb, node(routes)))
	}
	// NumRemotes, not NumRoutes: with route pooling (3 connections per
	// remote by default) NumRoutes counts connections, not servers.
	poll.Until(tb, 10*time.Second, func() error {
		for i, s := range nodes {
			if got := s.NumRemotes(); got != n-1 {
				return fmt.Errorf("node %d routes to %d others, want %d", i, got, n-1)
			}
		}
		return nil
	})
	return nodes
}

// FreePort returns a loopback port nobody listens on right now, for a
// server a test starts later at a URL it already handed out.
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// ClientURLs returns the client URL of each node, in order.
func ClientURLs(nodes []*server.Server) []string {
	urls := make([]string, len(nodes))
	for i, s := range nodes {
		urls[i] = s.ClientURL()
	}
	return urls
}

// ClientNode waits until one of nodes has a client, while the test has
// connected only one (a gateway or a Source), and returns that client's
// node and another node without clients: a failover test stops the
// first and publishes through the second, which survives.
func ClientNode(tb testing.TB, nodes []*server.Server) (client, other *server.Server) {
	tb.Helper()
	poll.Until(tb, 5*time.Second, func() error {
		client, other = nil, nil
		for _, s := range nodes {
			switch n := s.NumClients(); {
			case n == 1 && client == nil:
				client = s
			case n == 0 && other == nil:
				other = s
			}
		}
		if client == nil || other == nil {
			return errors.New("natstest: the client's node not found yet")
		}
		return nil
	})
	return client, other
}

// Package slowlink makes a shaped network link for tests and the load
// harness: a network namespace joined to the host by a veth pair whose
// host end sends into it through tc's token bucket filter (tbf) at a set
// rate, and, optionally, drops a share of packets each way (iptables'
// statistic match, inside the namespace). A client that dials from inside
// (Link.DialContext) reaches the host's address across the shaped link;
// the host's own clients reach the same address over loopback. The kernel
// here has no netem, so the link adds no delay of its own beyond its
// queue. It needs root and iproute2 (ip, tc), and iptables for loss; New
// skips a test, naming what is missing, where it cannot make a link.
// Links are named after the process, so Open first deletes those of
// processes that are gone (a test killed before its cleanup); Close
// deletes the namespace, and the veth pair, tbf and rules with it. A Link
// is safe for concurrent use.
package slowlink

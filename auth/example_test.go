package auth_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/tickgate/tickgate/auth"
	"github.com/tickgate/tickgate/subscribe"
)

// A verifier pinned to HS256 turns a token from Mint into a grant, and
// refuses an expired one with a reason the gateway can put in its 401.
func Example() {
	secret := []byte("an example secret, 32 bytes long")
	v, err := auth.New(auth.Config{Algorithms: []string{"HS256"}, HMACSecret: secret})
	if err != nil {
		panic(err)
	}

	token, _ := auth.Mint(secret, auth.Claims{
		Subject: "alice", Symbols: []string{"AAPL", "MS*"}, Tier: "realtime",
		Expires: time.Now().Add(time.Hour),
	})
	g, err := v.Verify(token)
	fmt.Println(g.Subject, g.Symbols, g.Tier, g.Allows("MSFT"), g.Allows("IBM"), err)

	stale, _ := auth.Mint(secret, auth.Claims{
		Subject: "alice", Symbols: []string{"*"}, Expires: time.Now().Add(-time.Hour),
	})
	_, err = v.Verify(stale)
	var ae *subscribe.AuthError
	fmt.Println(errors.As(err, &ae), ae.Reason)
	// Output:
	// alice [AAPL MS*] realtime true false <nil>
	// true expired
}

package feed_test

import (
	"fmt"

	"github.com/tickgate/tickgate/feed"
)

func ExampleNewEpoch() {
	e := feed.NewEpoch() // once per run of seq numbering
	t := feed.Tick{Symbol: "AAPL", Seq: 1, Price: 189.31, Size: 100, Bid: 189.3, Ask: 189.32, TS: 1732470000123456789, Epoch: "k3x9f0a1b2c4"}
	fmt.Println(len(e), feed.ValidEpoch(e))
	fmt.Println(string(t.AppendUpstreamJSON(nil)))
	// Output:
	// 12 true
	// {"type":"tick","sym":"AAPL","seq":1,"px":189.31,"sz":100,"bid":189.3,"ask":189.32,"ts":1732470000123456789,"epoch":"k3x9f0a1b2c4"}
}

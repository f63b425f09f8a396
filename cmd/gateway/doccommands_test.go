package main

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// repoRoot is the module root, from this package's directory.
const repoRoot = "../.."

// docCommand is one example command line of a doc, as a reader would
// type it: a heredoc is one command with its body.
type docCommand struct {
	file string // relative to the module root
	line int
	text string
}

// docFiles are the docs whose example commands must run as written.
func docFiles(t *testing.T) []string {
	t.Helper()
	files := []string{"README.md", "clients/js/README.md"}
	more, err := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range more {
		rel, _ := filepath.Rel(repoRoot, f)
		files = append(files, rel)
	}
	return files
}

var (
	// commandStart is how a command line begins, in an unlabelled block
	// or inline code.
	commandStart = regexp.MustCompile(`^(go (run|test|build|install) |bash |python3 |npx |curl |make( |$)|npm |cd |docker |kubectl |helm |promtool |git |export |head |cat |\./gateway|gateway -|(TICKGATE_[A-Z0-9_]+=\S+ )*TICKGATE_[A-Z0-9_]+=\S+$|[A-Z_]+=\S+ .*(go|bash) )`)
	inlineCode   = regexp.MustCompile("`([^`]+)`")
)

// extractCommands returns the example commands of the doc at path: every
// line of a sh block, the "$ " lines of any other block, and lines of
// other blocks and inline code that start like a command.
func extractCommands(t *testing.T, file string) []docCommand {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot, file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		out     []docCommand
		inBlock bool
		lang    string
		heredoc string // the terminator while inside a heredoc body
		pending *docCommand
	)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if fence, ok := strings.CutPrefix(line, "```"); ok && heredoc == "" {
			inBlock, lang = !inBlock, strings.TrimSpace(fence)
			continue
		}
		if !inBlock {
			for _, m := range inlineCode.FindAllStringSubmatch(line, -1) {
				if commandStart.MatchString(m[1]) {
					out = append(out, docCommand{file, n, m[1]})
				}
			}
			continue
		}
		if pending != nil { // a heredoc body or a continued line
			pending.text += "\n" + line
			if heredoc != "" && strings.TrimSpace(line) == heredoc || heredoc == "" && !strings.HasSuffix(line, `\`) {
				out, pending, heredoc = append(out, *pending), nil, ""
			}
			continue
		}
		text := strings.TrimSpace(line)
		switch {
		case lang == "sh" || lang == "bash" || lang == "shell":
		case strings.HasPrefix(text, "$ "):
			text = strings.TrimPrefix(text, "$ ")
		case commandStart.MatchString(text):
		default:
			continue
		}
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		c := docCommand{file, n, text}
		if m := regexp.MustCompile(`<<-?'?(\w+)'?`).FindStringSubmatch(text); m != nil {
			pending, heredoc = &c, m[1]
			continue
		}
		if strings.HasSuffix(text, `\`) {
			pending = &c
			continue
		}
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// How an example command is covered. Every command the docs show is in
// docCommands under one of these, and TestDocCommandsInventory keeps the
// table and the docs in step.
const (
	runs   = "run"    // by the named test, in every go test run (skipped with -short or without its tool)
	bench  = "bench"  // by TestDocCommandsBench with DOCS_BENCH=1: a load run or benchmark, seconds to minutes of a loaded machine
	manual = "manual" // runs here but for 10-35 min: no test runs it
	cannot = "cannot" // needs what this machine does not have
	suite  = "suite"  // make test or a part of it: the suite itself
	names  = "names"  // not a command line: a name in a sentence, or a template with placeholders whose runnable form is another entry
)

// docClass says how one command is covered: kind, and the test that runs
// it or why nothing does.
type docClass struct{ kind, why string }

// docCommands is every example command of the docs (trailing comments
// left out), by how it is covered.
var docCommands = map[string]docClass{
	// README.md, docs/deploy.md, clients/js/README.md, docs/protocol.md
	"go run ./cmd/gateway": {runs, "TestDocQuickStart, as written at the module root"},
	"npx --yes wscat -c 'ws://localhost:8080/ws?symbols=AAPL'": {runs, "TestDocQuickStart"},
	"curl -N 'http://localhost:8080/sse?symbols=AAPL'":         {runs, "TestExampleCurl, which reads it from the README and docs/protocol.md"},
	"make test":                      {suite, "the whole suite"},
	"make test-go":                   {suite, "its Go half"},
	"make test-js":                   {suite, "its JS half"},
	"npm ci":                         {names, "make test-js runs it"},
	"TICKGATE_LISTEN=127.0.0.1:8080": {runs, "TestDocEnvExamples"},
	"go run ./bench -workload fanout -spawn -clients 2000 -rate 50 -duration 10s": {bench, "about 20 s, 2000 connections"},
	"bash bench/compare.sh":                              {manual, "about 35 min; its Centrifugo rows need Centrifugo on PATH"},
	"bash bench/table.sh":                                {manual, "about 25 min"},
	"go test -run '^$' -bench . ./fanout ./subscribe":    {bench, "about 25 s of benchmarks"},
	"go run ./bench -h":                                  {runs, "TestDocQuickCommands"},
	"TICKGATE_LISTEN=:9090 TICKGATE_FEED_SIM_RATE=50000": {runs, "TestDocEnvExamples"},
	"gateway -check-config --config FILE":                {names, "FILE is a placeholder; docs/deploy.md's form with my.yaml runs"},
	"python3 -m http.server 8000":                        {runs, "TestDocDashboardServer (and the page in Chromium: clients/js/test/dashboard.test.js)"},
	"cd clients/js && npm ci && npm test":                {suite, "make test-js"},

	// docs/auth.md
	"head -c 48 /dev/urandom | base64 > hmac.secret":                                                                 {runs, "TestDocAuthWalkthrough"},
	"cat > auth.yaml <<'EOF'\nauth:\n  mode: jwt\n  hmac_secret_file: hmac.secret\nEOF":                              {runs, "TestDocAuthWalkthrough"},
	"go run ./cmd/gateway -check-config --config auth.yaml":                                                          {runs, "TestDocAuthWalkthrough"},
	`curl -fsS -o /etc/tickgate/jwks.json "$JWKS_URI"`:                                                               {cannot, "needs an identity provider's jwks_uri"},
	"go run ./cmd/gateway --config auth.yaml":                                                                        {runs, "TestDocAuthWalkthrough"},
	"TOKEN=$(go run ./cmd/gateway token --config auth.yaml --sub alice --syms 'AAPL,MSFT' --tier realtime --ttl 1h)": {runs, "TestDocAuthWalkthrough"},
	`npx --yes wscat -c "ws://localhost:8080/ws?token=$TOKEN"`:                                                       {runs, "TestDocAuthWalkthrough"},
	`npx --yes wscat -H "Authorization: Bearer $TOKEN" -c ws://localhost:8080/ws`:                                    {runs, "TestDocAuthWalkthrough"},
	`curl -i -H "Authorization: Bearer $TOKEN" http://localhost:8080/symbols`:                                        {runs, "TestDocAuthWalkthrough"},
	`curl -i -H "Authorization: Bearer not.a.token" http://localhost:8080/symbols`:                                   {runs, "TestDocAuthWalkthrough"},

	// docs/deploy.md
	"go build -o gateway ./cmd/gateway && ./gateway --config my.yaml":                     {runs, "TestDocBuildAndCheck"},
	"docker build -f deploy/Dockerfile -t tickgate . && docker run -p 8080:8080 tickgate": {cannot, "needs Docker"},
	"TICKGATE_FEED_SOURCE=nats": {runs, "TestDocEnvExamples"},
	"TICKGATE_SERVER_DRAIN_WINDOW=20s TICKGATE_SERVER_SHUTDOWN_TIMEOUT=30s": {runs, "TestDocEnvExamples"},
	"gateway -check-config --config my.yaml":                                {runs, "TestDocBuildAndCheck"},
	"go test -run TestPublisherAcksAllocs -v ./feed/nats":                   {runs, "TestDocQuickCommands"},
	"go test -run X -bench StreamReplay -benchtime 5x -count 5 ./feed/nats": {bench, "a benchmark"},
	"promtool test rules deploy/prometheus/rules_test.yml":                  {runs, "TestDocQuickCommands (needs promtool)"},
	"go run ./cmd/gateway --config sim10k.yaml":                             {manual, "the sizing rule's 600 s RSS run, with the harness line below beside it"},
	"go run ./bench -url ws://127.0.0.1:8080/ws -hosts 127.0.0.1 -clients 100 -symbols 100 -pick uniform -workload custom -ramp 100 -warmup 1s -duration 600s": {manual, "600 s against the gateway above"},

	// docs/performance.md
	"go run ./bench": {names, "the harness; its runs are the entries below"},
	"DOCS_BENCH=1 go test -run TestDocCommandsBench ./cmd/gateway":                                                       {names, "the runner of the bench entries"},
	"python3 bench/compare.py DIR":                                                                                       {runs, "TestDocQuickCommands, DIR the committed run the text names"},
	"go run ./bench -spawn -target T F -duration 8s -workload idle":                                                      {names, "template: T the target, F -feed nats; compare.sh runs them"},
	"go run ./bench -spawn -target T F -duration 8s -workload light":                                                     {names, "template: T the target, F -feed nats; compare.sh runs them"},
	"go run ./bench -spawn -target T F -duration 8s -workload sweep -find-max -rate 15 -refine 2":                        {names, "template: T the target, F -feed nats; compare.sh runs them"},
	"go run ./bench -spawn -target tickgate -feed nats -duration 8s -workload dashboard":                                 {bench, "10,000 clients for 8 s"},
	"go run ./bench -spawn -target tickgate -feed nats -duration 8s -workload bars":                                      {bench, "a load run"},
	"go build -o /tmp/gw ./cmd/gateway && go build -o /tmp/floor ./bench/floor":                                          {bench, "builds what the pinned runs below use"},
	"go run ./bench -spawn -pin -feed nats -gateway-bin /tmp/gw -workload sweep -rate 30 -duration 10s":                  {bench, "10,000 clients, pinned (taskset)"},
	"go run ./bench -spawn -pin -feed nats -target floor -gateway-bin /tmp/floor -workload sweep -rate 30 -duration 10s": {bench, "10,000 clients, pinned (taskset)"},
	"go run ./bench -spawn -feed nats -workload dashboard -duration 8s":                                                  {bench, "10,000 clients for 8 s"},
	"go run ./bench -spawn -workload churn -duration 60s":                                                                {bench, "90 s of connection churn"},
	"go build -o /tmp/gw ./cmd/gateway":                                                                                  {bench, "builds the gateway the book runs below use"},
	"go run ./bench -spawn -gateway-bin /tmp/gw -duration 8s -workload dashboard":                                        {bench, "10,000 clients for 8 s"},
	"go run ./bench -spawn -gateway-bin /tmp/gw -duration 8s -workload book":                                             {bench, "10,000 clients for 8 s; the book stream needs a feed that sends books (the simulator's feed.sim.book)"},
	"go test -run '^$' -bench 'Fanout$' -benchmem -count 5 ./fanout":                                                     {bench, "a benchmark"},
	"go test -run '^$' -bench 'BenchmarkBookLagging' -benchtime 3000x ./fanout":                                          {bench, "a benchmark"},
	"go test -c -o /tmp/fanout.test ./fanout":                                                                            {bench, "builds the test binary the callgrind counts run"},
	"go test -run '^$' -bench 'BenchmarkBook' ./fanout":                                                                  {bench, "a benchmark"},
	"go test -run '^$' -bench 'BenchmarkFanout' -benchtime 2000x ./fanout":                                               {bench, "a benchmark"},
	"go test -run '^$' -bench 'BenchmarkPublishShards' ./fanout":                                                         {bench, "a benchmark"},
	"go test -run '^$' -bench 'BenchmarkFrameWrite' -benchtime 200000x -cpu 1 ./subscribe/":                              {bench, "a benchmark"},
	"go test -c ./subscribe":              {bench, "builds the test binary BenchmarkBatchWrite's callgrind count runs"},
	"go build -o /tmp/gw-X ./cmd/gateway": {bench, "builds the gateway the memory runs below use (X: the revision measured)"},
	"go run ./bench -spawn -gateway-bin /tmp/gw-X -feed nats -workload idle -duration 8s":                                                                                        {bench, "15,000 clients for 8 s"},
	"go run ./bench -spawn -target centrifugo -centrifugo $(go env GOPATH)/bin/centrifugo -workload idle -duration 8s":                                                           {bench, "15,000 clients for 8 s, on Centrifugo (the go install line)"},
	"GODEBUG=adaptivestackstart=0 go test -run '^$' -bench BenchmarkIdleSession -benchtime 2000x -memprofilerate 1 -o /tmp/sub.test ./subscribe/ -args -idleheap /tmp/idle.heap": {bench, "a benchmark"},
	"go run ./bench -spawn -gateway-bin /tmp/gw-X -feed nats -workload dashboard -duration 8s":                                                                                   {bench, "10,000 clients for 8 s"},
	"go run ./bench -spawn -gateway-bin /tmp/gw-X -feed nats -workload light -duration 8s":                                                                                       {bench, "a load run"},
	"go run ./bench -spawn -gateway-bin /tmp/gw-X -feed nats -workload sweep -rate 30 -duration 8s":                                                                              {bench, "a load run"},
	"go install github.com/centrifugal/centrifugo/v6@v6.9.1":                                                                                                                     {bench, "fetches and builds Centrifugo from the Go module proxy"},
	"export PATH=$PATH:$(go env GOPATH)/bin":                                                                                                                                     {runs, "TestDocQuickCommands"},
	`WORKLOADS=light TARGETS="tickgate floor" bash bench/compare.sh 8s 1`:                                                                                                        {bench, "about 2 min"},
	"GATEWAY_BIN=/tmp/gw-before bash bench/compare.sh":                                                                                                                           {manual, "about 35 min, and a build of another revision"},
	"PIN=1 bash bench/compare.sh":                                         {manual, "about 35 min"},
	"python3 bench/compare.py bench/out/compare-RUN":                      {names, "RUN is a placeholder; the DIR form runs"},
	"go run ./bench -spawn -workload light -duration 8s -out /tmp/a.json": {bench, "a load run"},
	"go run ./bench -compare /tmp/a.json /tmp/b.json":                     {bench, "after the run above, and the same into /tmp/b.json"},
	"go run ./bench -spawn -gateway-bin /tmp/gw -feed nats -workload universe -memory-budget 64MiB -duration 10s -warmup 5s -fill 60s": {bench, "eleven gateways in turn, about 7 min"},
	"CGO_ENABLED=0 go test -c -o /tmp/fanout.test ./fanout":                                                                            {bench, "builds the test binary the callgrind counts of a listed symbol's lookup run"},
	"go test -run '^$' -bench 'BenchmarkListing' -benchtime 5x -count 5 ./fanout":                                                      {bench, "a benchmark"},
	"go test -run '^$' -bench BenchmarkSymbols -benchtime 20x ./cmd/gateway":                                                           {bench, "a benchmark"},
	"go test -run '^$' -bench 'BenchmarkListedSymbolMemory' -benchtime 3x -count 3 ./fanout":                                           {bench, "a benchmark"},
	"bash bench/slowlink.sh":                                                      {manual, "about 15 min, as root (network namespaces)"},
	"GATEWAY_BIN=/tmp/gw-before bash bench/slowlink.sh":                           {manual, "about 15 min, as root, and a build of another revision"},
	"go run ./bench -workload slowlink -spawn -duration 20s -warmup 5s":           {bench, "about 40 s, as root (network namespaces)"},
	"python3 bench/slowlink.py DIR":                                               {names, "DIR is a placeholder for a run's folder; the committed form below runs"},
	"python3 bench/slowlink.py bench/results/20261207/slowlink.ndjson -build i22": {runs, "TestDocQuickCommands"},
	"go run ./bench -workload slowlink -spawn -gateway-bin GW -duration 30s -warmup 5s -slowlink-rates 500kbit -slowlink-loss 0.02": {names, "template: GW a build's binary; the slowlink run above runs"},
	`WORKLOADS="light sweep" TARGETS=tickgate SWEEP_REPS=1 GATEWAY_BIN=GW bash bench/compare.sh 8s 1`:                               {names, "template: GW a build's binary; the light run above runs"},
}

// notYetInDocs are docCommands entries another change is to add to the
// docs: absent, they are not an error.
var notYetInDocs = map[string]bool{}

// historyDocs hold records of past runs, at the commits they name and
// with placeholders (T, GW, <commit>): the commands behind old figures,
// not examples to run today.
var historyDocs = map[string]bool{"docs/performance-history.md": true}

// trailingComment is a shell comment after a one-line command.
var trailingComment = regexp.MustCompile(`\s+#\s.*$`)

// docCommandKey is the docCommands key of c: its text without a trailing
// comment.
func docCommandKey(c docCommand) string {
	if strings.Contains(c.text, "\n") {
		return c.text
	}
	return trailingComment.ReplaceAllString(c.text, "")
}

// allDocCommands lists the example commands of every doc but the
// history ones.
func allDocCommands(t *testing.T) []docCommand {
	t.Helper()
	var all []docCommand
	for _, f := range docFiles(t) {
		if !historyDocs[f] {
			all = append(all, extractCommands(t, f)...)
		}
	}
	return all
}

// TestDocCommandsInventory: every example command in the docs is in
// docCommands, and every entry there is still in the docs; a "run"
// entry names a test that exists.
func TestDocCommandsInventory(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, c := range allDocCommands(t) {
		key := docCommandKey(c)
		seen[key] = true
		if _, ok := docCommands[key]; !ok {
			t.Errorf("%s:%d: example command %q is not in docCommands: run it in a test, or say why not", c.file, c.line, key)
		}
	}
	tests := testNames(t)
	for key, class := range docCommands {
		if !seen[key] && !notYetInDocs[key] {
			t.Errorf("docCommands lists %q, which no doc shows any more", key)
		}
		if class.kind == runs {
			name, _, _ := strings.Cut(class.why, " ")
			name = strings.TrimSuffix(name, ",")
			if !tests[name] {
				t.Errorf("%q: run by %s, which is no test of this package", key, name)
			}
		}
	}
}

// testNames is the set of Test functions in this package's test files.
func testNames(t *testing.T) map[string]bool {
	t.Helper()
	files, _ := filepath.Glob("*_test.go")
	names := map[string]bool{}
	decl := regexp.MustCompile(`(?m)^func (Test\w+)\(`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range decl.FindAllSubmatch(b, -1) {
			names[string(m[1])] = true
		}
	}
	return names
}

// mustShow fails t unless a doc shows cmd (a docCommands key): a test
// that runs a command runs what the docs say.
func mustShow(t *testing.T, cmd string) string {
	t.Helper()
	for _, c := range allDocCommands(t) {
		if docCommandKey(c) == cmd {
			return cmd
		}
	}
	t.Fatalf("no doc shows %q any more", cmd)
	return ""
}

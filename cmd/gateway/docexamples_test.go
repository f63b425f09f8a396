package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tickgate/tickgate/internal/logtest"
	"github.com/tickgate/tickgate/internal/natstest"
	"github.com/tickgate/tickgate/internal/poll"
	"github.com/tickgate/tickgate/internal/wstest"
)

// The docs' example commands, run as written (docCommands says which and
// where). Two things differ from a reader's terminal, and only these: a
// gateway listens on a free port, given as TICKGATE_LISTEN, and the
// commands that talk to it say that port where the docs say 8080; and a
// command that writes files (a secret, a config, a binary) runs in a
// scratch directory, where a shell function makes `go run ./cmd/gateway`
// and `go build -o F ./cmd/gateway` run or copy the binary built from
// this tree, as they would at the module root. TestDocQuickStart runs
// `go run ./cmd/gateway` itself, at the module root.

// docShellPrelude defines that shell function.
const docShellPrelude = `go() {
  if [ "$1" = run ] && [ "$2" = ./cmd/gateway ]; then shift 2; "$DOC_GATEWAY_BIN" "$@"; return; fi
  if [ $# = 4 ] && [ "$1" = build ] && [ "$2" = -o ] && [ "$4" = ./cmd/gateway ]; then cp "$DOC_GATEWAY_BIN" "$3"; return; fi
  command go "$@"
}
`

// docShell runs doc commands with sh in dir, with env added to the
// test's environment.
type docShell struct {
	t       *testing.T
	dir     string
	env     []string
	shim    bool          // define docShellPrelude
	timeout time.Duration // of run; 0: 3 minutes
}

// newDocShell is a shell in a scratch directory with the go shim, for a
// gateway on port.
func newDocShell(t *testing.T, port int) *docShell {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gateway")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return &docShell{t: t, dir: t.TempDir(), shim: true, env: []string{
		"DOC_GATEWAY_BIN=" + bin, fmt.Sprintf("TICKGATE_LISTEN=127.0.0.1:%d", port),
	}}
}

func (s *docShell) command(ctx context.Context, cmd string) *exec.Cmd {
	script := cmd
	if s.shim {
		script = docShellPrelude + cmd
	}
	c := exec.CommandContext(ctx, "sh", "-c", script)
	c.Dir = s.dir
	c.Env = append(os.Environ(), s.env...)
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGKILL) } // npx, node, the gateway too
	c.WaitDelay = 5 * time.Second
	return c
}

// run runs cmd to its end and returns its standard output and error
// output, failing the test unless it exits 0.
func (s *docShell) run(cmd string) (stdout, stderr string) {
	s.t.Helper()
	timeout := s.timeout
	if timeout == 0 {
		timeout = 3 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c := s.command(ctx, cmd)
	var out, errOut strings.Builder
	c.Stdout, c.Stderr = &out, &errOut
	if err := c.Run(); err != nil {
		s.t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", cmd, err, out.String(), errOut.String())
	}
	return out.String(), errOut.String()
}

// start runs cmd in the background until the test ends, then sends its
// process group SIGTERM (the gateway drains) and waits for it.
func (s *docShell) start(cmd string) *logtest.Buffer {
	s.t.Helper()
	c := s.command(context.Background(), cmd)
	var out logtest.Buffer
	c.Stdout, c.Stderr = &out, &out
	if err := c.Start(); err != nil {
		s.t.Fatalf("%s: %v", cmd, err)
	}
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	s.t.Cleanup(func() {
		syscall.Kill(-c.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if s.t.Failed() {
			s.t.Logf("%s:\n%s", cmd, out.String())
		}
	})
	return &out
}

// waitReady polls the gateway on port until /readyz answers 200.
func waitReadyOn(t *testing.T, port int, log *logtest.Buffer) {
	t.Helper()
	poll.Every(t, 2*time.Minute, 50*time.Millisecond, func() error { // a first go run compiles
		if code, _ := get(fmt.Sprintf("http://127.0.0.1:%d/readyz", port)); code != http.StatusOK {
			return fmt.Errorf("/readyz %d; output:\n%s", code, log.String())
		}
		return nil
	})
}

// onPort is cmd talking to port where the docs say localhost:8080.
func onPort(cmd string, port int) string {
	return strings.ReplaceAll(cmd, "localhost:8080", "localhost:"+strconv.Itoa(port))
}

// needTool skips t unless name is on PATH.
func needTool(t *testing.T, name, why string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("no %s on PATH: %s", name, why)
	}
}

// wscatSession is a doc's wscat command running with its input held open,
// read line by line (piped, wscat prints each message of a frame on a line
// of its own).
type wscatSession struct {
	t     *testing.T
	cmd   string
	in    io.WriteCloser
	lines chan string
}

func (s *docShell) wscat(cmd string) *wscatSession {
	s.t.Helper()
	needTool(s.t, "npx", "the docs' client is npx wscat (Node.js with npm)")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // a first npx fetches wscat
	c := s.command(ctx, cmd)
	c.Stderr = os.Stderr
	in, err := c.StdinPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	out, err := c.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		s.t.Fatal(err)
	}
	w := &wscatSession{t: s.t, cmd: cmd, in: in, lines: make(chan string, 1024)}
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(out)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			select {
			case w.lines <- sc.Text():
			default: // the test stopped reading
			}
		}
	}()
	s.t.Cleanup(func() {
		in.Close() // wscat quits when its input ends
		<-read
		if err := c.Wait(); err != nil && ctx.Err() == nil {
			s.t.Errorf("%s: %v", cmd, err)
		}
		cancel()
	})
	return w
}

// wscatPrompt is what wscat puts before a line: its prompt, or the
// direction of a message.
var wscatPrompt = regexp.MustCompile(`^([<>] )+`)

// welcome waits for the gateway's welcome: wscat is connected, and what
// is typed now is sent.
func (w *wscatSession) welcome() {
	w.t.Helper()
	if m := w.read(); !wstest.IsWelcome(m) {
		w.t.Fatalf("%s printed %s first, want the welcome", w.cmd, m.Raw)
	}
}

// next returns wscat's next message, past the welcome.
func (w *wscatSession) next() wstest.Msg {
	w.t.Helper()
	for {
		if m := w.read(); !wstest.IsWelcome(m) {
			return m
		}
	}
}

// read returns the message on wscat's next line.
func (w *wscatSession) read() wstest.Msg {
	w.t.Helper()
	select {
	case l := <-w.lines:
		m, err := wstest.Decode([]byte(wscatPrompt.ReplaceAllString(l, "")))
		if err != nil {
			w.t.Fatalf("%s printed %q: %v", w.cmd, l, err)
		}
		return m
	case <-time.After(2 * time.Minute):
		w.t.Fatalf("%s printed nothing more for 2 minutes", w.cmd)
	}
	return wstest.Msg{}
}

// until reads past ticks to the next message that is no tick.
func (w *wscatSession) until() wstest.Msg {
	w.t.Helper()
	for {
		if m := w.next(); m.Type != "tick" {
			return m
		}
	}
}

// send types line at wscat's prompt.
func (w *wscatSession) send(line string) {
	w.t.Helper()
	if _, err := io.WriteString(w.in, line+"\n"); err != nil {
		w.t.Fatal(err)
	}
}

// mustContain fails t unless the doc at file (from the module root)
// contains text: a message a doc tells the reader to type is what the
// test types.
func mustContain(t *testing.T, file, text string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, file))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), text) {
		t.Fatalf("%s no longer says %q", file, text)
	}
	return text
}

// TestDocQuickStart runs the README's first screen: `go run ./cmd/gateway`
// at the module root, then the look at its ticks (wscat, and the SSE curl
// once the README shows it), and types the README's subscribe at wscat.
func TestDocQuickStart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go run and npx")
	}
	t.Parallel()
	port := natstest.FreePort(t)
	sh := &docShell{t: t, dir: repoRoot, env: []string{fmt.Sprintf("TICKGATE_LISTEN=127.0.0.1:%d", port)}}
	log := sh.start(mustShow(t, "go run ./cmd/gateway"))
	waitReadyOn(t, port, log)
	if want := fmt.Sprintf("open http://127.0.0.1:%d/", port); !strings.Contains(log.String(), want) {
		t.Errorf("go run ./cmd/gateway does not print %q:\n%s", want, log.String())
	}

	w := sh.wscat(onPort(mustShow(t, "npx --yes wscat -c 'ws://localhost:8080/ws?symbols=AAPL'"), port))
	w.welcome()
	if m := w.next(); m.Type != "subscribed" || strings.Join(m.Symbols, ",") != "AAPL" {
		t.Fatalf("wscat's first message after the welcome: %s, want subscribed AAPL", m.Raw)
	}
	for range 3 {
		if m := w.next(); m.Type != "tick" || m.Sym != "AAPL" {
			t.Fatalf("wscat printed %s, want AAPL ticks", m.Raw)
		}
	}
	w.send(strings.TrimPrefix(mustContain(t, "README.md", `> {"op":"subscribe","id":1,"symbols":["AAPL","MSFT"]}`), "> "))
	if m := w.until(); m.Type != "subscribed" || m.ID == nil || *m.ID != 1 || strings.Join(m.Symbols, ",") != "AAPL,MSFT" {
		t.Errorf("the README's subscribe got %s, want subscribed id 1 AAPL,MSFT", m.Raw)
	}
}

// TestDocAuthWalkthrough runs docs/auth.md from "Turning it on" through
// the worked example: the secret and auth.yaml, -check-config, the gateway
// on them, a token, wscat with it in the query and in the header (typing
// the subscribes the doc gives), and the two curl refusals.
func TestDocAuthWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the gateway binary and npx")
	}
	t.Parallel()
	const doc = "docs/auth.md"
	port := natstest.FreePort(t)
	sh := newDocShell(t, port)
	sh.run(mustShow(t, "head -c 48 /dev/urandom | base64 > hmac.secret"))
	sh.run(mustShow(t, "cat > auth.yaml <<'EOF'\nauth:\n  mode: jwt\n  hmac_secret_file: hmac.secret\nEOF"))
	if _, errOut := sh.run(mustShow(t, "go run ./cmd/gateway -check-config --config auth.yaml")); !strings.Contains(errOut, "config OK") {
		t.Fatalf("-check-config said %q, want config OK", errOut)
	}
	log := sh.start(mustShow(t, "go run ./cmd/gateway --config auth.yaml"))
	waitReadyOn(t, port, log)

	token, _ := sh.run(mustShow(t, "TOKEN=$(go run ./cmd/gateway token --config auth.yaml --sub alice --syms 'AAPL,MSFT' --tier realtime --ttl 1h)") + "\nprintf %s \"$TOKEN\"")
	if strings.Count(token, ".") != 2 {
		t.Fatalf("TOKEN=%q, want a JWT", token)
	}
	sh.env = append(sh.env, "TOKEN="+token)

	w := sh.wscat(onPort(mustShow(t, `npx --yes wscat -c "ws://localhost:8080/ws?token=$TOKEN"`), port))
	w.welcome()
	w.send(mustContain(t, doc, `{"op":"subscribe","id":1,"symbols":["AAPL"]}`))
	if m := w.next(); m.Type != "subscribed" || strings.Join(m.Symbols, ",") != "AAPL" {
		t.Fatalf("subscribe with the token: %s, want subscribed AAPL", m.Raw)
	}
	if m := w.next(); m.Type != "tick" || m.Sym != "AAPL" {
		t.Fatalf("got %s, want AAPL ticks", m.Raw)
	}
	w.send(mustContain(t, doc, `{"op":"subscribe","id":2,"symbols":["IBM"]}`))
	if m := w.until(); m.Type != "error" || m.Code != "forbidden" {
		t.Errorf("IBM with a token for AAPL,MSFT: %s, want the forbidden error the doc promises", m.Raw)
	}

	h := sh.wscat(onPort(mustShow(t, `npx --yes wscat -H "Authorization: Bearer $TOKEN" -c ws://localhost:8080/ws`), port))
	h.welcome()
	h.send(`{"op":"subscribe","id":1,"symbols":["MSFT"]}`)
	if m := h.next(); m.Type != "subscribed" || strings.Join(m.Symbols, ",") != "MSFT" {
		t.Errorf("subscribe with the token in the header: %s, want subscribed MSFT", m.Raw)
	}

	if out, _ := sh.run(onPort(mustShow(t, `curl -i -H "Authorization: Bearer $TOKEN" http://localhost:8080/symbols`), port)); !strings.Contains(out, "200 OK") || !strings.Contains(out, `["AAPL","MSFT"]`) {
		t.Errorf("curl with the token:\n%s\nwant 200 and [\"AAPL\",\"MSFT\"], as the doc says", out)
	}
	if out, _ := sh.run(onPort(mustShow(t, `curl -i -H "Authorization: Bearer not.a.token" http://localhost:8080/symbols`), port)); !strings.Contains(out, "401 Unauthorized") || !strings.Contains(out, `{"error":"malformed",`) {
		t.Errorf("curl with not.a.token:\n%s\nwant 401 {\"error\":\"malformed\",...}, as the doc says", out)
	}
}

// TestDocBuildAndCheck runs docs/deploy.md's build-and-run with a my.yaml
// of one changed key, and its -check-config, which refuses a misspelt key
// naming the nearest.
func TestDocBuildAndCheck(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the gateway binary")
	}
	t.Parallel()
	port := natstest.FreePort(t)
	sh := newDocShell(t, port)
	sh.env = append(sh.env, "PATH="+sh.dir+string(os.PathListSeparator)+os.Getenv("PATH")) // the built gateway, as installed
	write := func(content string) {
		if err := os.WriteFile(filepath.Join(sh.dir, "my.yaml"), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("feed:\n  sim:\n    rate: 500\n")
	log := sh.start(mustShow(t, "go build -o gateway ./cmd/gateway && ./gateway --config my.yaml"))
	waitReadyOn(t, port, log)

	check := mustShow(t, "gateway -check-config --config my.yaml")
	if _, errOut := sh.run(check); !strings.Contains(errOut, "config OK") {
		t.Errorf("%s said %q, want config OK", check, errOut)
	}
	write("feed:\n  sim:\n    rat: 500\n")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := sh.command(ctx, check).CombinedOutput()
	if err == nil || !strings.Contains(string(out), `"feed.sim.rate"`) {
		t.Errorf("%s with feed.sim.rat: %v %s; want a failure naming feed.sim.rate", check, err, out)
	}
}

// TestDocEnvExamples: each TICKGATE_ setting the docs give as an example
// is taken by the gateway, and every TICKGATE_ variable any doc names
// sets a key.
func TestDocEnvExamples(t *testing.T) {
	assign := regexp.MustCompile(`^TICKGATE_[A-Z0-9_]+=\S+$`)
	for _, c := range allDocCommands(t) {
		fields := strings.Fields(c.text)
		if len(fields) == 0 || !assign.MatchString(fields[0]) || docCommands[docCommandKey(c)].kind != runs {
			continue
		}
		t.Run(c.text, func(t *testing.T) {
			for _, f := range fields {
				name, value, _ := strings.Cut(f, "=")
				t.Setenv(name, value)
			}
			if _, _, err := loadConfig(""); err != nil {
				t.Errorf("%s:%d: %s: %v", c.file, c.line, c.text, err)
			}
			if names, _ := unknownEnv(os.Environ()); len(names) > 0 {
				t.Errorf("%s:%d: %s: no key for %q", c.file, c.line, c.text, names)
			}
		})
	}
	named := regexp.MustCompile(`TICKGATE_[A-Z0-9_]*[A-Z0-9]`)
	known := map[string]bool{hmacSecretEnv: true}
	for _, k := range knownKeys() {
		known[envName(k)] = true
	}
	for _, f := range docFiles(t) {
		b, err := os.ReadFile(filepath.Join(repoRoot, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range named.FindAllString(string(b), -1) {
			if !known[name] {
				t.Errorf("%s names %s, which sets no key", f, name)
			}
		}
	}
}

// TestDocDashboardServer serves clients/js/README.md's dashboard with the
// command it gives, and fetches the page from it. The page itself runs in
// Chromium in clients/js/test/dashboard.test.js.
func TestDocDashboardServer(t *testing.T) {
	if testing.Short() {
		t.Skip("runs python3")
	}
	needTool(t, "python3", "the JS README serves its dashboard with python3 -m http.server")
	t.Parallel()
	readme, err := os.ReadFile(filepath.Join(repoRoot, "clients/js/README.md"))
	if err != nil {
		t.Fatal(err)
	}
	page := regexp.MustCompile("(?s)## A dashboard in 20 lines.*?```html\n(.*?)```").FindSubmatch(readme)
	if page == nil {
		t.Fatal("no html block under 'A dashboard in 20 lines'")
	}
	sh := &docShell{t: t, dir: t.TempDir()}
	if err := os.WriteFile(filepath.Join(sh.dir, "dashboard.html"), page[1], 0o600); err != nil {
		t.Fatal(err)
	}
	port := natstest.FreePort(t)
	sh.start(strings.Replace(mustShow(t, "python3 -m http.server 8000"), "8000", strconv.Itoa(port), 1))
	url := fmt.Sprintf("http://localhost:%d/dashboard.html", port)
	poll.Until(t, 30*time.Second, func() error {
		code, body := get(url)
		if code != http.StatusOK || body != string(page[1]) {
			return fmt.Errorf("GET %s: %d %.100q", url, code, body)
		}
		return nil
	})
}

// TestDocQuickCommands runs the short commands that need no gateway, at
// the module root as the docs say.
func TestDocQuickCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go and python3")
	}
	t.Parallel()
	for _, c := range []struct {
		cmd, want, tool string
		edit            func(string) string
	}{
		{cmd: "go run ./bench -h", want: "-workload"},
		{cmd: "go test -run TestPublisherAcksAllocs -v ./feed/nats", want: "--- PASS: TestPublisherAcksAllocs"},
		{cmd: "promtool test rules deploy/prometheus/rules_test.yml", want: "SUCCESS", tool: "promtool"},
		{cmd: "export PATH=$PATH:$(go env GOPATH)/bin"},
		{cmd: "python3 bench/compare.py DIR", want: "| workload |", tool: "python3", edit: func(s string) string {
			dir := mustContain(t, "docs/performance.md", "bench/results/20261129/compare-20261129T231436Z/")
			return strings.Replace(s, "DIR", dir, 1)
		}},
		{cmd: "python3 bench/slowlink.py bench/results/20261207/slowlink.ndjson -build i22", want: "| tbf | 500kbit * | 3 |", tool: "python3"},
	} {
		t.Run(c.cmd, func(t *testing.T) {
			t.Parallel()
			if c.tool != "" {
				needTool(t, c.tool, "the command runs it")
			}
			cmd := mustShow(t, c.cmd)
			if c.edit != nil {
				cmd = c.edit(cmd)
			}
			sh := &docShell{t: t, dir: repoRoot}
			out, errOut := sh.run(cmd)
			if !strings.Contains(out+errOut, c.want) {
				t.Errorf("%s printed:\n%s%s\nwant %q", cmd, out, errOut, c.want)
			}
		})
	}
}

// TestDocCommandsBench runs the docs' load runs and benchmarks, in the
// order the docs give them (the pinned runs use the binaries the line
// before builds), each to exit status 0. They take minutes of a loaded
// machine, so only with DOCS_BENCH=1.
func TestDocCommandsBench(t *testing.T) {
	if os.Getenv("DOCS_BENCH") != "1" {
		t.Skip("set DOCS_BENCH=1 to run the docs' load runs and benchmarks (minutes)")
	}
	sh := &docShell{t: t, dir: repoRoot, timeout: 15 * time.Minute}
	done := map[string]bool{}
	for _, c := range allDocCommands(t) {
		key := docCommandKey(c)
		if docCommands[key].kind != bench || done[key] {
			continue
		}
		done[key] = true
		t.Run(key, func(t *testing.T) {
			sh.t = t
			if strings.Contains(key, "-compare /tmp/a.json /tmp/b.json") {
				sh.run("go run ./bench -spawn -workload light -duration 8s -out /tmp/b.json") // the "b" it compares
			}
			start := time.Now()
			out, _ := sh.run(key)
			t.Logf("%s:%d, %s:\n%s", c.file, c.line, time.Since(start).Round(time.Second), out)
		})
	}
}

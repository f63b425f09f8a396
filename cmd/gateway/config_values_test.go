package main

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	t.Parallel()
	good := []struct {
		in   any
		want ByteSize
	}{
		{"1024", 1024}, {"512MiB", 512 << 20}, {"2GiB", 2 << 30}, {"64 KiB", 64 << 10},
		{"100B", 100}, {"1TiB", 1 << 40}, {"0", 0}, {1048576, 1 << 20}, {0, 0}, {uint64(7), 7}, {1e9, 1e9},
	}
	for _, c := range good {
		if got, err := parseSize(c.in); err != nil || got != c.want {
			t.Errorf("parseSize(%#v) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	for _, bad := range []any{"", "lots", "-1GiB", "1.5GiB", "GiB", "1MB", "1 mib", "9999999TiB", -1, 1.5, -1e3, 1e30, true} {
		if got, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%#v) = %d, want an error", bad, got)
		}
	}
}

func TestParseDuration(t *testing.T) {
	t.Parallel()
	good := []struct {
		in   any
		want time.Duration
	}{{"5s", 5 * time.Second}, {"1h30m", 90 * time.Minute}, {"250ms", 250 * time.Millisecond}, {"-1s", -time.Second}, {"0", 0}, {0, 0}, {0.0, 0}}
	for _, c := range good {
		if got, err := parseDuration(c.in); err != nil || got != c.want {
			t.Errorf("parseDuration(%#v) = %s, %v; want %s", c.in, got, err, c.want)
		}
	}
	for _, bad := range []any{5, "5", 1.5, "5 parsecs", "", true} {
		if got, err := parseDuration(bad); err == nil {
			t.Errorf("parseDuration(%#v) = %s, want an error", bad, got)
		}
	}
}

// keysOfType lists the config keys whose field has type typ.
func keysOfType(typ reflect.Type) []string {
	var keys []string
	for _, k := range structKeys(reflect.TypeFor[Config](), "") {
		if f, _ := configField(reflect.New(reflect.TypeFor[Config]()).Elem(), k); f.Type() == typ {
			keys = append(keys, k)
		}
	}
	return keys
}

// configField is the field of cfg (a Config value) that key sets.
func configField(cfg reflect.Value, key string) (reflect.Value, bool) {
	v := cfg
	for part := range strings.SplitSeq(key, ".") {
		found := false
		for i := range v.NumField() {
			if v.Type().Field(i).Tag.Get("mapstructure") == part {
				v, found = v.Field(i), true
				break
			}
		}
		if !found {
			return reflect.Value{}, false
		}
	}
	return v, true
}

// TestEverySizeKeyTakesUnits: each size key, in a file or the
// environment, takes a unit (1MiB) and a plain number of bytes alike.
func TestEverySizeKeyTakesUnits(t *testing.T) {
	keys := keysOfType(byteSizeType)
	for _, want := range []string{"fanout.queue_bytes", "runtime.memory_limit", "client.read_limit", "entitlements.delay_max_bytes"} {
		if !strings.Contains(strings.Join(keys, " "), want) {
			t.Fatalf("size keys %q lack %s", keys, want)
		}
	}
	for _, key := range keys {
		for _, raw := range []string{"2MiB", "2097152", "2048 KiB"} {
			cfg, _, err := loadConfig(writeConfig(t, yamlOf(map[string]string{key: raw})))
			if cfg == nil {
				t.Fatalf("%s: %s refused: %v", key, raw, err)
			}
			if f, _ := configField(reflect.ValueOf(cfg).Elem(), key); f.Int() != 2<<20 {
				t.Errorf("%s: %s = %d, want %d", key, raw, f.Int(), 2<<20)
			}
		}
		t.Setenv(envName(key), "3MiB")
		cfg, _, err := loadConfig("")
		if cfg == nil {
			t.Fatalf("%s=3MiB refused: %v", envName(key), err)
		}
		if f, _ := configField(reflect.ValueOf(cfg).Elem(), key); f.Int() != 3<<20 {
			t.Errorf("%s=3MiB: %d", envName(key), f.Int())
		}
		t.Setenv(envName(key), "")
	}
}

// TestDurationNeedsUnit: a bare number for any duration key is refused,
// in a file and in the environment, where Go would take it as
// nanoseconds; 0 alone is the same in every unit and passes.
func TestDurationNeedsUnit(t *testing.T) {
	keys := keysOfType(durationType)
	if len(keys) < 10 {
		t.Fatalf("duration keys %q: too few, the walk is broken", keys)
	}
	for _, key := range keys {
		_, _, err := loadConfig(writeConfig(t, yamlOf(map[string]string{key: "5"})))
		want := "config: " + key + ": " + wantDuration + ", got 5 (a number without a unit)"
		if err == nil || err.Error() != want {
			t.Errorf("%s: 5 in a file: %v\nwant %s", key, err, want)
		}
		t.Setenv(envName(key), "5")
		_, _, err = loadConfig("")
		if want := "config: " + key + ": " + wantDuration + `, got "5"`; err == nil || err.Error() != want {
			t.Errorf("%s=5: %v\nwant %s", envName(key), err, want)
		}
		t.Setenv(envName(key), "")
	}
	cfg, _, err := loadConfig(writeConfig(t, "server:\n  drain_window: 0\n"))
	if err != nil || cfg.Server.DrainWindow != 0 {
		t.Errorf("server.drain_window: 0 = %v, %v; want 0 accepted", cfg, err)
	}
}

// TestConfigErrorLines: a bad value is reported on one line naming the
// key, what is wanted and the value, and nothing of the decoder's own
// wording.
func TestConfigErrorLines(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ yaml, want string }{
		{"server:\n  drain_window: 5\n", "config: server.drain_window: " + wantDuration + ", got 5 (a number without a unit)"},
		{"client:\n  ping_interval: abc\n", "config: client.ping_interval: " + wantDuration + `, got "abc"`},
		{"fanout:\n  queue_bytes: 1MB\n", "config: fanout.queue_bytes: " + wantSize + `, got "1MB"`},
		{"fanout:\n  queue_bytes: -5\n", "config: fanout.queue_bytes: " + wantSize + ", got -5"},
		{"client:\n  allow_wildcard: maybe\n", `config: client.allow_wildcard: want true or false, got "maybe"`},
		{"fanout:\n  shards: lots\n", `config: fanout.shards: want a whole number, got "lots"`},
		{"feed:\n  sim:\n    rate: fast\n", `config: feed.sim.rate: want a number, got "fast"`},
		{"log:\n  level: loud\n", `config: log.level: want debug, info, warn or error, got "loud"`},
		{"server:\n  admin_listen: \":8080\"\n", `config: server.admin_listen: must differ from listen, got ":8080" for both`},
	} {
		_, _, err := loadConfig(writeConfig(t, c.yaml))
		if err == nil || err.Error() != c.want {
			t.Errorf("%q:\n got %v\nwant %s", c.yaml, err, c.want)
		}
	}
	// Two bad keys: two lines, each whole.
	_, _, err := loadConfig(writeConfig(t, "server:\n  drain_window: 5\nclient:\n  allow_wildcard: maybe\n"))
	if lines := strings.Split(strings.TrimSpace(errString(err)), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[0], "config: ") || !strings.HasPrefix(lines[1], "config: ") {
		t.Errorf("two bad keys: %q, want two config: lines", lines)
	}
	// YAML that does not parse: the parser's line, without viper's preamble.
	path := writeConfig(t, "server: [\n")
	_, _, err = loadConfig(path)
	if msg := errString(err); !strings.HasPrefix(msg, "config: "+path+": yaml: ") || strings.Contains(msg, "While parsing") || strings.Contains(msg, "\n") {
		t.Errorf("bad YAML: %q, want one line \"config: %s: yaml: ...\"", msg, path)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

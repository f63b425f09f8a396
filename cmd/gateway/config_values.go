package main

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
)

// Config values with units. A size key is a ByteSize field and a duration
// key a time.Duration field: decodeHook reads both, whatever the key, so a
// new key gets the one syntax by its type alone.

// ByteSize is a config value in bytes. It is written as a whole number of
// bytes (1048576) or with a unit as GOMEMLIMIT takes them: B, KiB, MiB,
// GiB or TiB (1MiB, 512 KiB, 2GiB). Convert it where a package wants an
// int: int(cfg.Fanout.QueueBytes).
type ByteSize int64

var (
	byteSizeType = reflect.TypeFor[ByteSize]()
	durationType = reflect.TypeFor[time.Duration]()
)

// decodeHook is the one place config text becomes a value with a unit:
// sizes (parseSize), durations (parseDuration), and comma-separated lists
// for list keys set from the environment. Every other value is left to
// the decoder.
var decodeHook = mapstructure.ComposeDecodeHookFunc(
	mapstructure.StringToSliceHookFunc(","),
	func(_, to reflect.Type, data any) (any, error) {
		switch to {
		case byteSizeType:
			return parseSize(data)
		case durationType:
			return parseDuration(data)
		}
		return data, nil
	},
)

const (
	wantSize     = "want bytes (1048576) or a size with a unit (B, KiB, MiB, GiB, TiB: 1MiB, 2GiB)"
	wantDuration = "want a duration with a unit (500ms, 5s, 1m, 1h30m)"
)

// parseSize reads a size: a non-negative whole number of bytes, as a YAML
// number (1048576, 1e9) or text, or text with a unit (KiB, MiB, GiB, TiB;
// B for bytes).
func parseSize(data any) (ByteSize, error) {
	switch v := data.(type) {
	case ByteSize:
		return v, nil
	case string:
		return parseSizeText(v)
	}
	rv := reflect.ValueOf(data)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if rv.Int() >= 0 {
			return ByteSize(rv.Int()), nil
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if rv.Uint() <= math.MaxInt64 {
			return ByteSize(rv.Uint()), nil
		}
	case reflect.Float32, reflect.Float64: // YAML reads 1e9 as a float
		if f := rv.Float(); f >= 0 && f < math.MaxInt64 && f == math.Trunc(f) {
			return ByteSize(f), nil
		}
	}
	return 0, fmt.Errorf("%s, got %v", wantSize, data)
}

// sizeUnits are the units parseSizeText takes, longest suffix first so
// that "B" is tried last.
var sizeUnits = []struct {
	suffix string
	mult   int64
}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"B", 1}, {"", 1}}

func parseSizeText(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	for _, u := range sizeUnits {
		num, ok := strings.CutSuffix(t, u.suffix)
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
		if err != nil || n < 0 || n > math.MaxInt64/u.mult {
			break
		}
		return ByteSize(n * u.mult), nil
	}
	return 0, fmt.Errorf("%s, got %q", wantSize, s)
}

// parseDuration reads a duration in Go's syntax, which needs a unit: a
// bare 5 would otherwise be 5ns. Only 0 (the same in every unit) may
// stand without one.
func parseDuration(data any) (time.Duration, error) {
	switch v := data.(type) {
	case time.Duration:
		return v, nil
	case string:
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			return 0, fmt.Errorf("%s, got %q", wantDuration, v)
		}
		return d, nil
	}
	rv := reflect.ValueOf(data)
	if rv.CanInt() && rv.Int() == 0 || rv.CanUint() && rv.Uint() == 0 || rv.CanFloat() && rv.Float() == 0 {
		return 0, nil
	}
	return 0, fmt.Errorf("%s, got %v (a number without a unit)", wantDuration, data)
}

// decodeErrors turns the decoder's error into one line per bad key,
// "config: KEY: what is wanted, got VALUE", without its preamble.
func decodeErrors(err error) error {
	var errs []error
	collectDecodeErrors(err, &errs)
	if len(errs) == 0 {
		return fmt.Errorf("config: %w", err)
	}
	return errors.Join(errs...)
}

func collectDecodeErrors(err error, out *[]error) {
	switch e := err.(type) {
	case *mapstructure.DecodeError:
		*out = append(*out, fmt.Errorf("config: %s: %s", e.Name(), decodeCause(e.Unwrap())))
	case interface{ Unwrap() []error }:
		for _, inner := range e.Unwrap() {
			collectDecodeErrors(inner, out)
		}
	default:
		if inner := errors.Unwrap(err); inner != nil {
			collectDecodeErrors(inner, out)
			return
		}
		*out = append(*out, fmt.Errorf("config: %w", err))
	}
}

// decodeCause says what a key wants and what it got, for the decoder's
// own errors (a value that is not of the key's type); the hook's errors
// say so already.
func decodeCause(err error) string {
	var (
		pe *mapstructure.ParseError
		ue *mapstructure.UnconvertibleTypeError
	)
	switch {
	case errors.As(err, &pe):
		return fmt.Sprintf("%s, got %s", wantOf(pe.Expected.Type()), gotOf(pe.Value))
	case errors.As(err, &ue):
		return fmt.Sprintf("%s, got %s", wantOf(ue.Expected.Type()), gotOf(ue.Value))
	}
	return err.Error()
}

// wantOf says in words what a value of type t is written as.
func wantOf(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "want true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "want a whole number"
	case reflect.Float32, reflect.Float64:
		return "want a number"
	case reflect.String:
		return "want text"
	case reflect.Slice:
		return "want a list, like [a, b]"
	case reflect.Struct:
		return "want a mapping of keys"
	}
	return "want a " + t.String()
}

// gotOf quotes text and prints anything else as YAML would show it.
func gotOf(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(v)
}

package main

import (
	"bufio"
	"bytes"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// The default of fanout.memory_budget, when the key is empty, follows
// from what the process may use: a quarter of the Go memory limit if one
// is set (GOMEMLIMIT, or runtime.memory_limit), else an eighth of the
// machine's memory (the cgroup's memory.max when it is lower, as in a
// container), else 256 MiB. What the budget bounds is what the engine
// keeps; the rest of the limit is for connections, client queues and the
// garbage collector's headroom (docs/deploy.md, "Sizing").
const (
	minMemoryBudget      = 1 << 20
	fallbackMemoryBudget = 256 << 20
)

// memoryBudget is the memory budget cfg sets, or its default, and where
// that came from, for the log.
func memoryBudget(cfg *Config) (int64, string) {
	if n := int64(cfg.Fanout.MemoryBudget); n > 0 {
		return n, "fanout.memory_budget"
	}
	if limit := debug.SetMemoryLimit(-1); limit < math.MaxInt64 {
		return max(limit/4, minMemoryBudget), "a quarter of the Go memory limit"
	}
	if mem := machineMemory(); mem > 0 {
		return max(mem/8, minMemoryBudget), "an eighth of the machine's memory"
	}
	return fallbackMemoryBudget, "the fallback (machine memory unknown)"
}

// machineMemory is the memory the process's machine (or its cgroup, if
// that is lower) has, in bytes; 0 if unknown.
func machineMemory() int64 {
	var total int64
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
				total = kb << 10
			}
		}
	}
	if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 && (total == 0 || n < total) {
			total = n // "max" means no cgroup limit
		}
	}
	return total
}

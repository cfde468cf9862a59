package benchkit

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// CPUModel returns the machine's CPU model from /proc/cpuinfo, or "unknown".
func CPUModel() string { return procField("/proc/cpuinfo", "model name") }

// MemTotal returns the machine's memory from /proc/meminfo, as "23.5 GiB", or "unknown".
func MemTotal() string { return memory(procField("/proc/meminfo", "MemTotal")) }

// procField returns the value of the first "key: value" line of a /proc file, or "unknown".
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// memory turns /proc/meminfo's "24684084 kB" into "23.5 GiB".
func memory(kb string) string {
	n, err := strconv.ParseFloat(strings.TrimSuffix(kb, " kB"), 64)
	if err != nil {
		return kb
	}
	return strconv.FormatFloat(n/(1<<20), 'f', 1, 64) + " GiB"
}

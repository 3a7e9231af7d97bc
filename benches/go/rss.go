package main

import (
	"os"
	"strconv"
	"strings"
)

func statusKiB(field string) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, field) {
			f := strings.Fields(line)
			if len(f) >= 2 {
				v, _ := strconv.ParseInt(f[1], 10, 64)
				return v
			}
		}
	}
	return 0
}

func peakRSS() int64 { return statusKiB("VmHWM:") }
func rss() int64     { return statusKiB("VmRSS:") }

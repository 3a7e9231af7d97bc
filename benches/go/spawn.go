// Go counterpart of examples/spawn.rs: spawn N empty goroutines from one
// goroutine, then wait for all of them (sync.WaitGroup).
//
//	go run spawn.go [N=500000] [GOMAXPROCS=2]
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

func main() {
	n, procs := 500000, 2
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	if len(os.Args) > 2 {
		procs, _ = strconv.Atoi(os.Args[2])
	}
	runtime.GOMAXPROCS(procs)
	var wg sync.WaitGroup
	start := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() { wg.Done() }()
	}
	spawned := time.Now()
	wg.Wait()
	done := time.Now()
	fmt.Printf("spawn_go n=%d workers=%d spawn_s=%.3f run_s=%.3f total_s=%.3f peak_rss_kib=%d\n",
		n, procs, spawned.Sub(start).Seconds(), done.Sub(spawned).Seconds(), done.Sub(start).Seconds(), peakRSS())
}

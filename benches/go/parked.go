// Go counterpart of examples/parked.rs: N goroutines blocked on one
// channel at once, then released by closing it.
//
//	go run parked.go [N=100000] [GOMAXPROCS=2]
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	n, procs := 100000, 2
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	if len(os.Args) > 2 {
		procs, _ = strconv.Atoi(os.Args[2])
	}
	runtime.GOMAXPROCS(procs)
	ch := make(chan struct{})
	var blocked int64
	var wg sync.WaitGroup
	before := rss()
	start := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			atomic.AddInt64(&blocked, 1)
			<-ch
			wg.Done()
		}()
	}
	for atomic.LoadInt64(&blocked) < int64(n) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	parked := rss()
	close(ch)
	wg.Wait()
	fmt.Printf("parked_go n=%d workers=%d bytes_per_task=%.0f peak_rss_kib=%d total_s=%.3f\n",
		n, procs, float64((parked-before)*1024)/float64(n), peakRSS(), time.Since(start).Seconds())
}

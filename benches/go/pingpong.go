// Go counterpart of examples/pingpong.rs: two goroutines exchange a value
// over two unbuffered (or buffered, CAP) channels.
//
//	go run pingpong.go [ROUNDS=1000000] [GOMAXPROCS=2] [CAP=0]
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"
)

func main() {
	rounds, procs, capacity := 1000000, 2, 0
	if len(os.Args) > 1 {
		rounds, _ = strconv.Atoi(os.Args[1])
	}
	if len(os.Args) > 2 {
		procs, _ = strconv.Atoi(os.Args[2])
	}
	if len(os.Args) > 3 {
		capacity, _ = strconv.Atoi(os.Args[3])
	}
	runtime.GOMAXPROCS(procs)
	ping := make(chan uint64, capacity)
	pong := make(chan uint64, capacity)
	go func() {
		for v := range ping {
			pong <- v + 1
		}
	}()
	start := time.Now()
	var v uint64
	for i := 0; i < rounds; i++ {
		ping <- v
		v = <-pong
	}
	elapsed := time.Since(start).Seconds()
	close(ping)
	fmt.Printf("pingpong_go rounds=%d workers=%d cap=%d total_s=%.3f ns_per_rt=%.1f\n",
		rounds, procs, capacity, elapsed, elapsed*1e9/float64(rounds))
}

// The Go contender of benches/files.sh: net/http's FileServer on a
// directory, as a Go user would write it.
//
//	go run fileserver.go -root DIR -port 0
//
// Prints "listening on 127.0.0.1:PORT" once it accepts connections.
// GOMAXPROCS is the Go runtime's (set it in the environment to pin the
// number of threads running Go code).
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
)

func main() {
	root := flag.String("root", ".", "the directory to serve")
	port := flag.Int("port", 0, "the port (0 picks a free one)")
	flag.Parse()
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	log.Fatal(http.Serve(ln, http.FileServer(http.Dir(*root))))
}

package core_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"golang.org/x/net/nettest"

	"github.com/ifsock/ifsock/core"
)

// The standard library's networking runs over any interface through the
// net.Conn and net.Listener adapters; each test runs on lo0 and eth0, both
// through real plugin processes.
var ecosystemIfaces = []struct{ name, driver string }{{"lo0", "loopback"}, {"eth0", "hostnet"}}

func TestHTTPOverInterface(t *testing.T) {
	for _, c := range ecosystemIfaces {
		t.Run(c.name, func(t *testing.T) {
			h := newHost(t, core.IfaceConfig{Name: c.name, Driver: c.driver})
			i := iface(t, h, c.name)
			l, port := netListenFree(t, i)
			mux := http.NewServeMux()
			mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, "hello over %s", c.name)
			})
			mux.HandleFunc("POST /upload", func(w http.ResponseWriter, r *http.Request) {
				sum := sha256.New()
				n, err := io.Copy(sum, r.Body)
				if err != nil {
					http.Error(w, err.Error(), 500)
					return
				}
				fmt.Fprintf(w, "%d %x", n, sum.Sum(nil))
			})
			srv := &http.Server{Handler: mux}
			go func() { _ = srv.Serve(l) }()
			t.Cleanup(func() { _ = srv.Close() })

			client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{DialContext: i.DialContext}}
			base := "http://127.0.0.1:" + strconv.Itoa(port)
			resp, err := client.Get(base + "/hello")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(body) != "hello over "+c.name {
				t.Fatalf("GET: %d %q", resp.StatusCode, body)
			}

			payload := make([]byte, 10<<20)
			_, _ = rand.Read(payload)
			resp, err = client.Post(base+"/upload", "application/octet-stream", bytes.NewReader(payload))
			if err != nil {
				t.Fatal(err)
			}
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			want := fmt.Sprintf("%d %x", len(payload), sha256.Sum256(payload))
			if string(body) != want {
				t.Fatalf("POST 10 MiB: server saw %q, want %q", body, want)
			}
		})
	}
}

func TestTLSOverInterface(t *testing.T) {
	cert := selfSigned(t)
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	for _, c := range ecosystemIfaces {
		t.Run(c.name, func(t *testing.T) {
			h := newHost(t, core.IfaceConfig{Name: c.name, Driver: c.driver})
			i := iface(t, h, c.name)
			l, port := netListenFree(t, i)
			tl := tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert}})
			go func() {
				conn, err := tl.Accept()
				if err != nil {
					return
				}
				defer conn.Close()
				_, _ = io.Copy(conn, conn)
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			raw, err := i.DialContext(ctx, "tcp", "127.0.0.1:"+strconv.Itoa(port))
			if err != nil {
				t.Fatal(err)
			}
			conn := tls.Client(raw, &tls.Config{RootCAs: pool, ServerName: "ifsock.test"})
			defer conn.Close()
			if err := conn.HandshakeContext(ctx); err != nil {
				t.Fatalf("handshake: %v", err)
			}
			msg := make([]byte, 256<<10)
			_, _ = rand.Read(msg)
			go func() { _, _ = conn.Write(msg) }()
			got := make([]byte, len(msg))
			_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			if _, err := io.ReadFull(conn, got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, msg) {
				t.Fatal("TLS echo differs")
			}
			if st := conn.ConnectionState(); !st.HandshakeComplete || st.Version < tls.VersionTLS12 {
				t.Fatalf("connection state %+v", st)
			}
		})
	}
}

// TestNetConnHostnet runs x/net's net.Conn conformance over eth0 through a
// real plugin process.
func TestNetConnHostnet(t *testing.T) {
	h := newHost(t, core.IfaceConfig{Name: "eth0", Driver: "hostnet"})
	nettest.TestConn(t, makePipe(t, iface(t, h, "eth0"), "127.0.0.1"))
}

// selfSigned makes a certificate for ifsock.test, for the TLS test.
func selfSigned(t *testing.T) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "ifsock.test"},
		DNSNames:     []string{"ifsock.test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

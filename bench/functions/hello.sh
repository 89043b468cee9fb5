#!/bin/sh
# The benchmark's hello-world, in the three shapes the modes need:
#   hello.sh               CGI (RFC 3875): one response, then exit (lighttpd mod_cgi, single mode)
#   hello.sh --http-stdio  HTTP/1.1 requests on stdin, responses on stdout, keep-alive (multi mode)
#   hello.sh --http-stdio-buffered  the same keep-alive loop, reading stdin in 64 KB blocks
#                          (perl, always on Debian): dash's `read` must take a byte per
#                          syscall on a pipe or socket, which makes the shell loop cost more
#                          CPU per request than the gateway itself
#   hello.sh --daemon      an HTTP daemon on $CONDUCTOR_FUNCTION_SOCKET (parallel mode); a shell
#                          cannot listen on a unix socket, so it execs a tiny Node server.
case "$1" in
  --http-stdio)
    CR=$(printf '\r')
    while IFS= read -r line; do
      while IFS= read -r h; do
        h=${h%"$CR"}
        [ -z "$h" ] && break
      done
      printf 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nhello world\n'
    done ;;
  --http-stdio-buffered)
    exec perl -e '
      $| = 1; my $buf = "";
      while (sysread(STDIN, $buf, 65536, length $buf)) {
        while ((my $i = index($buf, "\r\n\r\n")) >= 0) {
          substr($buf, 0, $i + 4, "");
          print "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nhello world\n";
        }
      }' ;;
  --daemon)
    exec node -e '
      const http = require("http")
      http.createServer((req, res) => { res.writeHead(200, { "content-type": "text/plain", "content-length": 12 }); res.end("hello world\n") })
        .listen(process.env.CONDUCTOR_FUNCTION_SOCKET)' ;;
  *)
    printf 'Content-Type: text/plain\r\n\r\nhello world\n' ;;
esac

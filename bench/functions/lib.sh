# Shared by bench/functions/*.sh (sourced): the lighttpd mod_cgi reference and small helpers.

# bench_setup NAME TOOL...: checks the tools are installed, builds dist/ if missing, makes
# $TMP (/tmp/cnd-bench-NAME.*) and $PIDS; on exit, every pid in $PIDS is killed and $TMP removed.
bench_setup() {
  local name=$1 tool; shift
  for tool in "$@"; do command -v "$tool" >/dev/null || { echo "missing $tool (scripts/setup-host.sh installs it)" >&2; exit 1; }; done
  [ -f dist/conductor/bin.js ] || npm run build >/dev/null
  TMP=$(mktemp -d "/tmp/cnd-bench-$name.XXXXXX")
  PIDS=()
  trap bench_cleanup EXIT
}
bench_cleanup() { local p; for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

# lighttpd_cgi DIR PORT: writes DIR/www/hello.cgi (bench/functions/hello.sh) and a lighttpd
# config serving it with mod_cgi on 127.0.0.1:PORT, then prints the config's path.
lighttpd_cgi() {
  local dir=$1 port=$2
  mkdir -p "$dir/www"; cp "$(dirname "${BASH_SOURCE[0]}")/hello.sh" "$dir/www/hello.cgi"
  cat > "$dir/lighttpd.conf" <<CONF
server.modules = ("mod_cgi")
server.document-root = "$dir/www"
server.bind = "127.0.0.1"
server.port = $port
server.errorlog = "$dir/lighttpd.err"
server.max-connections = 1024
cgi.assign = (".cgi" => "")
CONF
  echo "$dir/lighttpd.conf"
}

# Start/stop helpers for a private RabbitMQ 3.10 (AMQP 1.0 plugin) and a
# tinyproxy CONNECT proxy, for the link and daemon tests.  Source this file.
#
#   broker_start DIR     RabbitMQ on 127.0.0.1 with every path under DIR, its own
#                        epmd and Erlang cookie, free ports; plain + TLS listeners
#                        (a CA and server certificate made here with openssl); a
#                        PLAIN user; queues "requests" and "replies".  The plain
#                        listener also on the testenv's bridge address
#                        ($ADB_TEST_CLIENT_IP, 10.231.0.1) when it is up, so that
#                        connector namespaces reach it: $BROKER_BRIDGE_URL.
#   broker_stop / broker_restart / broker_kill_beam
#   broker_queue_depth NAME / broker_queue_names / broker_purge NAME
#   broker_dead_letter QUEUE DLQ   rejected messages of QUEUE go to DLQ
#   proxy_start DIR NAME [USER:PASS]   tinyproxy allowing CONNECT to the broker's ports
#   proxy_stop NAME
#
# Exports: BROKER_DIR BROKER_NODE BROKER_PORT BROKER_TLS_PORT BROKER_USER
#          BROKER_PASSWORD_FILE BROKER_CA BROKER_WRONG_CA BROKER_AMQP_URL
#          BROKER_AMQPS_URL BROKER_BRIDGE_URL (empty without the testenv); proxy_start sets PROXY_PORT_<NAME>.
#
# RabbitMQ 3.10 vs other AMQP 1.0 brokers (Azure Service Bus), which the tests
# must not hide: addresses are /queue/<name>; no dynamic (temporary) reply
# queues, so clients use a fixed reply queue; delivery_count is not raised on
# redelivery (first_acquirer is what tells); work held by a stuck consumer is
# freed only by consumer_timeout (set to 60 s here) or by its connection
# closing.
#
# A missing package is a hard error (no silent skip).

BROKER_RMQ_SERVER=/usr/lib/rabbitmq/bin/rabbitmq-server
BROKER_RMQ_CTL=/usr/lib/rabbitmq/bin/rabbitmqctl

broker_die() { echo "broker.sh: $*" >&2; return 1; }

broker_require() {
    [ -x "$BROKER_RMQ_SERVER" ] || broker_die "rabbitmq-server not installed: apt-get install rabbitmq-server (see tests/install-deps)" || return 1
    ls /usr/lib/rabbitmq/lib/rabbitmq_server-*/plugins 2>/dev/null | grep -q '^rabbitmq_amqp1_0' \
        || broker_die "RabbitMQ's rabbitmq_amqp1_0 plugin is missing (Debian's rabbitmq-server ships it)" || return 1
    command -v epmd >/dev/null || broker_die "epmd not found (erlang-base)" || return 1
    command -v openssl >/dev/null || broker_die "openssl not installed" || return 1
}

# A free TCP port on loopback (bind-tested by python).
broker_free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

broker_env() {
    env HOME="$BROKER_DIR/home" \
        RABBITMQ_NODENAME="$BROKER_NODE" \
        RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
        RABBITMQ_NODE_PORT="$BROKER_PORT" \
        RABBITMQ_DIST_PORT="$BROKER_DIST_PORT" \
        ERL_EPMD_ADDRESS=127.0.0.1 \
        ERL_EPMD_PORT="$BROKER_EPMD_PORT" \
        RABBITMQ_CONFIG_FILE="$BROKER_DIR/rabbitmq.conf" \
        RABBITMQ_ENABLED_PLUGINS_FILE="$BROKER_DIR/enabled_plugins" \
        RABBITMQ_MNESIA_BASE="$BROKER_DIR/mnesia" \
        RABBITMQ_LOG_BASE="$BROKER_DIR/log" \
        RABBITMQ_PID_FILE="$BROKER_DIR/rabbit.pid" \
        RABBITMQ_LOGS=- \
        "$@"
}

broker_ctl() { broker_env "$BROKER_RMQ_CTL" -n "$BROKER_NODE" "$@"; }

broker_make_certs() {
    local d="$BROKER_DIR/pki"
    mkdir -p "$d"
    (
        cd "$d" || exit 1
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=adbridge test CA" \
            -keyout ca.key -out ca.pem >/dev/null 2>&1 || exit 1
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=some other CA" \
            -keyout wrong-ca.key -out wrong-ca.pem >/dev/null 2>&1 || exit 1
        openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr >/dev/null 2>&1 || exit 1
        # Named localhost only: amqps://127.0.0.1 must fail the peer name check.
        printf 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n' > server.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
            -extfile server.ext -out server.pem >/dev/null 2>&1 || exit 1
        chmod 644 server.key
    ) || broker_die "openssl could not make the test certificates in $d"
}

# Waits for "Server startup complete" in the broker's output.
broker_wait_ready() {
    local i
    for i in $(seq 1 120); do
        grep -q "Server startup complete" "$BROKER_DIR/server.out" 2>/dev/null && return 0
        if ! kill -0 "$BROKER_SERVER_PID" 2>/dev/null; then
            tail -20 "$BROKER_DIR/server.out" >&2
            broker_die "rabbitmq-server exited during startup (log: $BROKER_DIR/server.out)"
            return 1
        fi
        sleep 0.5
    done
    tail -20 "$BROKER_DIR/server.out" >&2
    broker_die "rabbitmq-server not ready after 60 s (log: $BROKER_DIR/server.out)"
}

broker_launch() {
    : > "$BROKER_DIR/server.out"
    # setsid: a stopped job control group does not take the broker down.
    broker_env setsid "$BROKER_RMQ_SERVER" >> "$BROKER_DIR/server.out" 2>&1 < /dev/null &
    BROKER_SERVER_PID=$!
    broker_wait_ready
}

broker_start() {
    broker_require || return 1
    BROKER_DIR=$1
    mkdir -p "$BROKER_DIR/home" "$BROKER_DIR/mnesia" "$BROKER_DIR/log" || return 1
    chmod 700 "$BROKER_DIR/home"
    BROKER_NODE="adbtest$$@localhost"
    BROKER_PORT=$(broker_free_port); BROKER_TLS_PORT=$(broker_free_port)
    BROKER_DIST_PORT=$(broker_free_port); BROKER_EPMD_PORT=$(broker_free_port)
    # Its own Erlang cookie: rabbitmqctl reads $HOME/.erlang.cookie.
    head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$BROKER_DIR/home/.erlang.cookie"
    chmod 400 "$BROKER_DIR/home/.erlang.cookie"
    broker_make_certs || return 1
    echo '[rabbitmq_amqp1_0].' > "$BROKER_DIR/enabled_plugins"
    BROKER_BRIDGE_URL=
    local bridge_listener=
    if [ -n "$ADB_TEST_CLIENT_IP" ] && ip -o -4 addr show | grep -q " $ADB_TEST_CLIENT_IP/"; then
        bridge_listener="listeners.tcp.2 = $ADB_TEST_CLIENT_IP:$BROKER_PORT"
        BROKER_BRIDGE_URL="amqp://$ADB_TEST_CLIENT_IP:$BROKER_PORT"
    fi
    cat > "$BROKER_DIR/rabbitmq.conf" <<EOF
listeners.tcp.1 = 127.0.0.1:$BROKER_PORT
$bridge_listener
listeners.ssl.1 = 127.0.0.1:$BROKER_TLS_PORT
ssl_options.cacertfile = $BROKER_DIR/pki/ca.pem
ssl_options.certfile = $BROKER_DIR/pki/server.pem
ssl_options.keyfile = $BROKER_DIR/pki/server.key
ssl_options.verify = verify_none
ssl_options.fail_if_no_peer_cert = false
loopback_users = none
consumer_timeout = 60000
amqp1_0.default_user = none
log.console = true
log.console.level = info
log.file = false
EOF
    # Our own epmd on a private port, started here so it is stopped by PID.
    setsid epmd -address 127.0.0.1 -port "$BROKER_EPMD_PORT" > "$BROKER_DIR/epmd.out" 2>&1 < /dev/null &
    BROKER_EPMD_PID=$!
    sleep 0.3
    broker_launch || return 1
    BROKER_USER=adbridge
    BROKER_PASSWORD_FILE="$BROKER_DIR/broker-password"
    (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=\n' > "$BROKER_PASSWORD_FILE")
    broker_ctl add_user "$BROKER_USER" "$(cat "$BROKER_PASSWORD_FILE")" >/dev/null 2>&1 \
        || broker_die "rabbitmqctl add_user failed" || return 1
    broker_ctl set_permissions -p / "$BROKER_USER" '.*' '.*' '.*' >/dev/null 2>&1 \
        || broker_die "rabbitmqctl set_permissions failed" || return 1
    broker_declare_queue requests || return 1
    broker_declare_queue replies || return 1
    BROKER_CA="$BROKER_DIR/pki/ca.pem"
    BROKER_WRONG_CA="$BROKER_DIR/pki/wrong-ca.pem"
    BROKER_AMQP_URL="amqp://127.0.0.1:$BROKER_PORT"
    BROKER_AMQPS_URL="amqps://localhost:$BROKER_TLS_PORT"
    export BROKER_DIR BROKER_NODE BROKER_PORT BROKER_TLS_PORT BROKER_USER BROKER_PASSWORD_FILE BROKER_CA \
        BROKER_WRONG_CA BROKER_AMQP_URL BROKER_AMQPS_URL BROKER_BRIDGE_URL
}

# A classic queue, declared before anyone attaches.  Non-durable on purpose:
# RabbitMQ 3.10's AMQP 1.0 plugin re-declares a /queue/<name> address on every
# attach with the link terminus' durability (none -> non-durable) and refuses
# the attach (ending the whole session) when the queue was declared durable.
# So the queue, and what is in it, does not survive a broker restart here.
broker_declare_queue() {
    broker_ctl eval "rabbit_amqqueue:declare(rabbit_misc:r(<<\"/\">>, queue, <<\"$1\">>), false, false, [], none, <<\"test\">>)." \
        >/dev/null 2>&1 || broker_die "cannot declare queue $1 (rabbitmqctl eval)"
}

broker_queue_depth() { # NAME -> "ready unacked"
    broker_ctl list_queues -q name messages_ready messages_unacknowledged 2>/dev/null | awk -v q="$1" '$1==q {print $2, $3}'
}

broker_purge() { broker_ctl purge_queue "$1" >/dev/null 2>&1; }

broker_queue_names() { broker_ctl list_queues -q --no-table-headers name 2>/dev/null | sort; }

# broker_dead_letter QUEUE DLQ: declares DLQ and a policy that dead-letters
# what is rejected on QUEUE into it (through the default exchange).
broker_dead_letter() {
    broker_declare_queue "$2" || return 1
    broker_ctl set_policy "dlx-$1" "^$1\$" "{\"dead-letter-exchange\":\"\",\"dead-letter-routing-key\":\"$2\"}" \
        --apply-to queues >/dev/null 2>&1 || broker_die "rabbitmqctl set_policy (dead-lettering $1 into $2) failed"
}

broker_beam_pid() { cat "$BROKER_DIR/rabbit.pid" 2>/dev/null; }

# SIGTERM to the beam process, wait for it to go.
broker_stop_beam() {
    local pid i
    pid=$(broker_beam_pid)
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$BROKER_SERVER_PID" 2>/dev/null
    rm -f "$BROKER_DIR/rabbit.pid"
}

# The fixture queues are not durable (broker_declare_queue), so a restart
# loses them: they are declared again, as a real deployment's durable queues
# would still be there.  The bridge never creates them (its replies go to
# /amq/queue/NAME, which does not declare).
broker_restart() {
    broker_stop_beam
    broker_launch || return 1
    broker_declare_queue requests && broker_declare_queue replies
}

broker_stop() {
    [ -n "$BROKER_DIR" ] || return 0
    broker_stop_beam
    if [ -n "$BROKER_EPMD_PID" ]; then
        kill -TERM "$BROKER_EPMD_PID" 2>/dev/null
        wait "$BROKER_EPMD_PID" 2>/dev/null
        BROKER_EPMD_PID=
    fi
}

proxy_start() { # DIR NAME [USER:PASS]
    command -v tinyproxy >/dev/null || broker_die "tinyproxy not installed: apt-get install tinyproxy (see tests/install-deps)" || return 1
    local d=$1/proxy-$2 port
    mkdir -p "$d"
    port=$(broker_free_port)
    {
        echo "Port $port"
        echo "Listen 127.0.0.1"
        echo "Timeout 120"
        echo "MaxClients 64"
        echo "Allow 127.0.0.1"
        echo "ConnectPort $BROKER_PORT"
        echo "ConnectPort $BROKER_TLS_PORT"
        echo "LogLevel Info"
        echo "LogFile \"$d/tinyproxy.log\""
        echo "PidFile \"$d/tinyproxy.pid\""
        [ -n "$3" ] && echo "BasicAuth ${3%%:*} ${3#*:}"
    } > "$d/tinyproxy.conf"
    setsid tinyproxy -d -c "$d/tinyproxy.conf" > "$d/out" 2>&1 < /dev/null &
    eval "PROXY_PID_$2=$!"
    eval "PROXY_PORT_$2=$port"
    export "PROXY_PORT_$2"
    for i in $(seq 1 50); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.1
    done
    cat "$d/out" >&2
    broker_die "tinyproxy did not start (config $d/tinyproxy.conf)"
}

proxy_stop() { # NAME
    local pid
    eval "pid=\$PROXY_PID_$1"
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    eval "PROXY_PID_$1="
}

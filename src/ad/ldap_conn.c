/* LDAP connection bound with SASL GSSAPI + security layer, or inside TLS
 * (see ldap_conn.h). */
#include "config.h"

#include "ldap_entry.h"

#include <adbridge/text.h>
#include <adbridge/ldap_conn.h>

#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <ldap.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openldap.h>
#include <poll.h>
#include <pthread.h>
#include <sasl/sasl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

enum {
    DEFAULT_CONNECT_MS = 3000,
    DEFAULT_OP_MS = 10000,
    DEFAULT_MIN_SSF = 56,
    DEFAULT_PAGE = 500,
};

struct adb_ldap_conn {
    LDAP *ld;
    char *host;
    int op_timeout_ms;
    unsigned ssf;
    bool broken;
    char protection[160];
};

struct adb_ldap_search {
    adb_ldap_conn *c;
    char *base, *filter;
    char **attrs;
    int scope, page_size;
    struct berval cookie;
    LDAPMessage *res;     /* current page */
    LDAPMessage *next;    /* next entry of the current page */
    bool last_page;
};

static struct timeval ms_to_tv(int ms)
{
    struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
    return tv;
}

/* Maps a libldap result code to ours; transport failures mark c broken. */
static adb_code ldap_fail(adb_ldap_conn *c, int rc, adb_error *err, const char *what)
{
    char *diag = NULL;
    adb_code code;

    if (c->ld != NULL)
        ldap_get_option(c->ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
    switch (rc) {
    case LDAP_SERVER_DOWN:
    case LDAP_CONNECT_ERROR:
    case LDAP_UNAVAILABLE:
    case LDAP_BUSY:
        c->broken = true;
        code = ADB_E_DC_UNAVAILABLE;
        break;
    case LDAP_TIMEOUT:
    case LDAP_TIMELIMIT_EXCEEDED:
        c->broken = true;
        code = ADB_E_TIMEOUT;
        break;
    case LDAP_NO_SUCH_OBJECT:
        code = ADB_E_NOT_FOUND;
        break;
    case LDAP_FILTER_ERROR:
    case LDAP_INVALID_DN_SYNTAX:
    case LDAP_PARAM_ERROR:
        code = ADB_E_INVALID_REQUEST;
        break;
    default:
        code = ADB_E_LDAP;
    }
    adb_error_set(err, code, "%s on %s: %s%s%s", what, c->host, ldap_err2string(rc),
                  diag != NULL && diag[0] != '\0' ? " — " : "", diag != NULL ? diag : "");
    ldap_memfree(diag);
    return code;
}

/* Non-blocking connect with a deadline; returns a connected blocking socket. */
static adb_code tcp_connect(const adb_ldap_target *t, int port, int timeout_ms, int *out,
                            adb_error *err)
{
    const char *name = t->address != NULL ? t->address : t->host;
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
    struct addrinfo *ai = NULL;
    char service[12];
    int fd = -1, gai, one = 1, soerr = 0;
    socklen_t len = sizeof soerr;
    struct pollfd pfd;

    if (t->address != NULL)
        hints.ai_flags |= AI_NUMERICHOST;
    snprintf(service, sizeof service, "%d", port);
    if ((gai = getaddrinfo(name, service, &hints, &ai)) != 0)
        return adb_error_set(err, ADB_E_DNS, "cannot resolve %s: %s", name, gai_strerror(gai));
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        freeaddrinfo(ai);
        return adb_error_set(err, ADB_E_IO, "socket: %s", strerror(errno));
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
        soerr = errno;
    } else {
        pfd.fd = fd;
        pfd.events = POLLOUT;
        int n = poll(&pfd, 1, timeout_ms);
        if (n == 0)
            soerr = ETIMEDOUT;
        else if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
            soerr = errno;
    }
    freeaddrinfo(ai);
    if (soerr != 0) {
        close(fd);
        return adb_error_set(err, soerr == ETIMEDOUT ? ADB_E_TIMEOUT : ADB_E_DC_UNAVAILABLE,
                             "cannot connect to %s (%s) port %d: %s", t->host, name, port,
                             soerr == ETIMEDOUT ? "no answer within the connect timeout" : strerror(soerr));
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    *out = fd;
    return ADB_OK;
}

/* GSSAPI asks for nothing but an optional authorization id: give defaults. */
/* Cyrus SASL loads every plugin in its directory when a process first uses
 * it (digest-md5 and scram pull in OpenSSL, sasldb Berkeley DB): about 3 ms
 * of each CLI run for mechanisms the bridge never uses.  The first
 * sasl_client_init sets the process's callbacks (libldap's own later call
 * only counts a reference), so this one, run before any bind, lets only the
 * GSSAPI plugin load. */
static pthread_once_t sasl_once = PTHREAD_ONCE_INIT;

static int only_gssapi(void *context, const char *file, sasl_verify_type_t type)
{
    const char *base = strrchr(file, '/');

    (void)context;
    base = base != NULL ? base + 1 : file;
    return type != SASL_VRFY_PLUGIN || strncmp(base, "libgssapiv2.", 12) == 0 ? SASL_OK : SASL_CONTINUE;
}

static void sasl_init_once(void)
{
    static const sasl_callback_t callbacks[] = {
        { SASL_CB_VERIFYFILE, (int (*)(void))(void (*)(void))only_gssapi, NULL },
        { SASL_CB_LIST_END, NULL, NULL },
    };
    (void)sasl_client_init(callbacks);   /* on failure libldap's own call reports it */
}

static int sasl_interact(LDAP *ld, unsigned flags, void *defaults, void *in)
{
    (void)ld;
    (void)flags;
    (void)defaults;
    for (sasl_interact_t *i = in; i != NULL && i->id != SASL_CB_LIST_END; i++) {
        i->result = i->defresult != NULL ? i->defresult : "";
        i->len = (unsigned)strlen(i->result);
    }
    return LDAP_SUCCESS;
}

static const char *tls_mode_name(adb_ldap_tls tls)
{
    return tls == ADB_LDAP_TLS_LDAPS ? "LDAPS" : tls == ADB_LDAP_TLS_STARTTLS ? "StartTLS" : "plain LDAP";
}

/* ldap.ca_file must be readable and hold at least one PEM certificate:
 * GnuTLS would otherwise accept an empty trust list and every DC would fail
 * verification with a message that hides the real mistake. */
static adb_code check_ca_file(const char *path, adb_error *err)
{
    gnutls_datum_t data = { NULL, 0 };
    gnutls_x509_crt_t *certs = NULL;
    unsigned n = 0;
    FILE *f = fopen(path, "r");
    int rc;

    if (f == NULL)
        return adb_error_set(err, ADB_E_CONFIG, "ldap.ca_file %s cannot be read: %s (it must be the PEM file of "
                             "the CA that issued the DCs' certificates, e.g. the AD CS root CA)", path,
                             strerror(errno));
    fclose(f);
    if ((rc = gnutls_load_file(path, &data)) < 0)
        return adb_error_set(err, ADB_E_CONFIG, "ldap.ca_file %s cannot be read: %s", path, gnutls_strerror(rc));
    rc = gnutls_x509_crt_list_import2(&certs, &n, &data, GNUTLS_X509_FMT_PEM, 0);
    gnutls_free(data.data);
    for (unsigned i = 0; rc >= 0 && i < n; i++)
        gnutls_x509_crt_deinit(certs[i]);
    gnutls_free(certs);
    if (rc < 0 || n == 0)
        return adb_error_set(err, ADB_E_CONFIG, "ldap.ca_file %s holds no PEM certificate%s%s (it must be the PEM "
                             "file of the CA that issued the DCs' certificates, e.g. the AD CS root CA)", path,
                             rc < 0 ? ": " : "", rc < 0 ? gnutls_strerror(rc) : "");
    return ADB_OK;
}

/* TCP connection and an LDAP handle on it, TLS options set (per handle,
 * never libldap's global ones); TLS itself not started yet. */
static adb_code open_handle(const adb_ldap_target *t, int port, adb_ldap_tls tls, const char *ca_file,
                            int reqcert, int connect_ms, int op_ms, LDAP **out, adb_error *err)
{
    int version = LDAP_VERSION3, fd = -1, rc, is_server = 0, tls_min = LDAP_OPT_X_TLS_PROTOCOL_TLS1_2;
    struct timeval tv = ms_to_tv(op_ms), ntv = ms_to_tv(connect_ms);
    char url[300];
    LDAP *ld = NULL;
    adb_code code;

    *out = NULL;
    if ((code = tcp_connect(t, port, connect_ms, &fd, err)) != ADB_OK) {
        if (tls == ADB_LDAP_TLS_LDAPS && code == ADB_E_DC_UNAVAILABLE)
            adb_error_set(err, code, "%s does not accept LDAPS on port %d (%s): LDAPS needs a certificate on the "
                          "DC (e.g. from AD CS); or set ldap.tls to \"starttls\" or \"off\"", t->host, port,
                          strerror(ECONNREFUSED));
        return code;
    }
    /* The URL names the DC, so GSSAPI asks for ldap/<host> (NOCANON: no
     * reverse lookup of the address, which AD's DNS often gets wrong), and
     * TLS checks the certificate against that name, not the address. */
    snprintf(url, sizeof url, "%s://%s:%d", tls == ADB_LDAP_TLS_LDAPS ? "ldaps" : "ldap", t->host, port);
    if ((rc = ldap_init_fd(fd, LDAP_PROTO_TCP, url, &ld)) != LDAP_SUCCESS) {
        close(fd);
        return adb_error_set(err, ADB_E_LDAP, "cannot set up LDAP on %s: %s", url, ldap_err2string(rc));
    }
    ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version);
    ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
    ldap_set_option(ld, LDAP_OPT_X_SASL_NOCANON, LDAP_OPT_ON);
    ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv);
    ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &ntv);   /* also bounds the TLS handshake */
    if (tls != ADB_LDAP_TLS_OFF) {
        ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &reqcert);
        ldap_set_option(ld, LDAP_OPT_X_TLS_PROTOCOL_MIN, &tls_min);
        if (ca_file != NULL) {   /* exactly this file: no ldap.conf or LDAPTLS_* directory on top */
            ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, ca_file);
            ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTDIR, NULL);
        }
        if ((rc = ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &is_server)) != LDAP_OPT_SUCCESS) {
            char *diag = NULL;
            ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
            code = adb_error_set(err, ADB_E_CONFIG, "cannot set up TLS with ldap.ca_file %s: %s",
                                 ca_file != NULL ? ca_file : "(system CAs)", diag != NULL ? diag : "unknown error");
            ldap_memfree(diag);
            ldap_unbind_ext_s(ld, NULL, NULL);
            return code;
        }
    }
    *out = ld;
    return ADB_OK;
}

/* Runs the TLS handshake (after the StartTLS request for starttls).
 * libldap waits for the handshake with the network timeout only in its
 * "async" mode on a non-blocking socket (otherwise it spins on EAGAIN with no
 * deadline), so the handshake runs that way and the socket is blocking again
 * afterwards, as the rest of the module expects. */
static int start_tls(LDAP *ld, adb_ldap_tls tls, int op_ms)
{
    int fd = -1, rc;

    if (tls == ADB_LDAP_TLS_STARTTLS) {
        struct timeval tv = ms_to_tv(op_ms);
        LDAPMessage *res = NULL;
        int msgid, result = LDAP_OTHER;
        if ((rc = ldap_start_tls(ld, NULL, NULL, &msgid)) != LDAP_SUCCESS)
            return rc;
        if ((rc = ldap_result(ld, msgid, LDAP_MSG_ALL, &tv, &res)) <= 0) {
            if (rc < 0)
                ldap_get_option(ld, LDAP_OPT_RESULT_CODE, &result);
            return rc == 0 ? LDAP_TIMEOUT : result;
        }
        if ((rc = ldap_parse_result(ld, res, &result, NULL, NULL, NULL, NULL, 1)) != LDAP_SUCCESS)
            return rc;
        if (result != LDAP_SUCCESS)
            return result;
    }
    ldap_get_option(ld, LDAP_OPT_DESC, &fd);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    ldap_set_option(ld, LDAP_OPT_CONNECT_ASYNC, LDAP_OPT_ON);
    rc = ldap_install_tls(ld);
    ldap_set_option(ld, LDAP_OPT_CONNECT_ASYNC, LDAP_OPT_OFF);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return rc;
}

static int trimmed_len(const char *s)
{
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == ' ')
        n--;
    return (int)n;
}

/* Why did GnuTLS refuse the DC's certificate: verifies it again against
 * the same CA file and the DC's name, in words.  Uses only the leaf
 * certificate, which is enough to name the CA that is missing. */
static void explain_cert(const struct berval *der, const char *host, const char *ca_file, char *buf, size_t size)
{
    gnutls_x509_crt_t crt = NULL;
    gnutls_x509_trust_list_t tl = NULL;
    gnutls_datum_t d = { (unsigned char *)der->bv_val, (unsigned)der->bv_len }, why = { NULL, 0 };
    gnutls_datum_t subject = { NULL, 0 }, issuer = { NULL, 0 };
    unsigned char host_copy[256];
    gnutls_typed_vdata_st name = { .type = GNUTLS_DT_DNS_HOSTNAME, .data = host_copy };
    unsigned status = 0;

    snprintf((char *)host_copy, sizeof host_copy, "%s", host);

    snprintf(buf, size, "the certificate could not be read");
    if (gnutls_x509_crt_init(&crt) < 0 || gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_DER) < 0
        || gnutls_x509_trust_list_init(&tl, 0) < 0)
        goto out;
    if (ca_file != NULL)
        gnutls_x509_trust_list_add_trust_file(tl, ca_file, NULL, GNUTLS_X509_FMT_PEM, 0, 0);
    else
        gnutls_x509_trust_list_add_system_trust(tl, 0, 0);
    gnutls_x509_crt_get_dn3(crt, &subject, 0);
    gnutls_x509_crt_get_issuer_dn3(crt, &issuer, 0);
    if (gnutls_x509_trust_list_verify_crt2(tl, &crt, 1, &name, 1, 0, &status, NULL) < 0 || status == 0
        || gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &why, 0) < 0)
        snprintf(buf, size, "certificate '%s', issuer '%s'", subject.data ? (char *)subject.data : "?",
                 issuer.data ? (char *)issuer.data : "?");
    else
        snprintf(buf, size, "%.*s (certificate '%s', issuer '%s')", trimmed_len((char *)why.data),
                 (char *)why.data,
                 subject.data ? (char *)subject.data : "?", issuer.data ? (char *)issuer.data : "?");
out:
    gnutls_free(why.data);
    gnutls_free(subject.data);
    gnutls_free(issuer.data);
    if (tl != NULL)
        gnutls_x509_trust_list_deinit(tl, 1);
    if (crt != NULL)
        gnutls_x509_crt_deinit(crt);
}

/* The handshake with certificate checks failed; libldap says only "connect
 * error".  Tell a certificate problem from any other by a second handshake
 * that does not check (nothing is sent over it: no bind, no query). */
static adb_code tls_failure(const adb_ldap_target *t, int port, adb_ldap_tls tls, const char *ca_file,
                            int connect_ms, int op_ms, int rc, const char *diag, adb_error *err)
{
    LDAP *ld = NULL;
    struct berval der = { 0, NULL };
    char why[320];
    adb_error e = { 0 };

    if (rc == LDAP_TIMEOUT)
        return adb_error_set(err, ADB_E_TIMEOUT, "%s on %s port %d: no TLS handshake within %d ms",
                             tls_mode_name(tls), t->host, port, connect_ms);
    if (tls == ADB_LDAP_TLS_STARTTLS && rc > 0)   /* an LDAP result: the DC answered the request with no */
        return adb_error_set(err, ADB_E_TLS, "%s refused StartTLS on port %d: %s%s%s (it needs a certificate, "
                             "e.g. from AD CS; or set ldap.tls to \"off\")", t->host, port, ldap_err2string(rc),
                             diag != NULL && diag[0] != '\0' ? " — " : "", diag != NULL ? diag : "");
    if (open_handle(t, port, tls, ca_file, LDAP_OPT_X_TLS_NEVER, connect_ms, op_ms, &ld, &e) != ADB_OK
        || start_tls(ld, tls, op_ms) != LDAP_SUCCESS) {
        /* libldap's "(unknown error code)" says nothing: leave it out. */
        bool useful = diag != NULL && diag[0] != '\0' && strcmp(diag, "(unknown error code)") != 0;
        if (ld != NULL)
            ldap_unbind_ext_s(ld, NULL, NULL);
        return adb_error_set(err, ADB_E_TLS, "TLS handshake (%s) with %s port %d failed: %s%s%s", tls_mode_name(tls),
                             t->host, port, ldap_err2string(rc), useful ? " — " : "", useful ? diag : "");
    }
    if (ldap_get_option(ld, LDAP_OPT_X_TLS_PEERCERT, &der) == LDAP_OPT_SUCCESS && der.bv_val != NULL)
        explain_cert(&der, t->host, ca_file, why, sizeof why);
    else
        snprintf(why, sizeof why, "no certificate details");
    ber_memfree(der.bv_val);
    ldap_unbind_ext_s(ld, NULL, NULL);
    return adb_error_set(err, ADB_E_TLS_CERT, "the TLS certificate of %s (port %d) failed verification with "
                         "ldap.ca_file %s: %s. Set ldap.ca_file to the PEM file of the CA that issued the DCs' "
                         "certificates (e.g. the AD CS root CA)", t->host, port,
                         ca_file != NULL ? ca_file : "(unset: the system's CAs)", why);
}

/* Strength of the TLS cipher in bits, as libldap computes it for SASL's
 * external SSF: the key size of the bulk cipher. */
static unsigned tls_ssf(LDAP *ld, char *desc, size_t size)
{
    char *version = NULL, *cipher = NULL;
    unsigned ssf = 0;

    ldap_get_option(ld, LDAP_OPT_X_TLS_VERSION, &version);
    ldap_get_option(ld, LDAP_OPT_X_TLS_CIPHER, &cipher);
    if (cipher != NULL) {
        gnutls_cipher_algorithm_t alg = gnutls_cipher_get_id(cipher);
        if (alg != GNUTLS_CIPHER_UNKNOWN)
            ssf = (unsigned)gnutls_cipher_get_key_size(alg) * 8;
    }
    snprintf(desc, size, "%s %s (SSF %u)", version != NULL ? version : "TLS", cipher != NULL ? cipher : "?", ssf);
    ldap_memfree(version);
    ldap_memfree(cipher);
    return ssf;
}

adb_code adb_ldap_connect(const adb_ldap_target *target, const adb_krb *creds,
                          const adb_ldap_options *opts, adb_ldap_conn **out, adb_error *err)
{
    int connect_ms = opts != NULL && opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : DEFAULT_CONNECT_MS;
    int op_ms = opts != NULL && opts->op_timeout_ms > 0 ? opts->op_timeout_ms : DEFAULT_OP_MS;
    unsigned min_ssf = opts != NULL && opts->min_ssf > 0 ? opts->min_ssf : DEFAULT_MIN_SSF;
    adb_ldap_tls tls = opts != NULL ? opts->tls : ADB_LDAP_TLS_OFF;
    const char *ca_file = opts != NULL && tls != ADB_LDAP_TLS_OFF ? opts->ca_file : NULL;
    int port = target->port > 0 ? target->port : 389, rc;
    ber_len_t ssf_min = min_ssf, ssf_max = 0, ssf = 0;
    int cbinding = LDAP_OPT_X_SASL_CBINDING_TLS_ENDPOINT;
    adb_ldap_conn *c;
    char tls_desc[96] = "";
    adb_code code;

    *out = NULL;
    if (target->host == NULL || target->host[0] == '\0')
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "LDAP target without a host name");
    if (tls == ADB_LDAP_TLS_LDAPS)
        port = port == 3268 ? 3269 : port == 389 ? 636 : port;   /* TLS twins of the LDAP and GC ports */
    if (ca_file != NULL && (code = check_ca_file(ca_file, err)) != ADB_OK)
        return code;
    if ((c = calloc(1, sizeof *c)) == NULL || (c->host = strdup(target->host)) == NULL) {
        free(c);
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    }
    c->op_timeout_ms = op_ms;
    pthread_once(&sasl_once, sasl_init_once);   /* before libldap's first call initialises SASL */
    if ((code = adb_krb_use_on_this_thread(creds, err)) != ADB_OK
        || (code = open_handle(target, port, tls, ca_file, LDAP_OPT_X_TLS_DEMAND, connect_ms, op_ms, &c->ld,
                               err)) != ADB_OK) {
        adb_ldap_close(c);
        return code;
    }
    if (tls != ADB_LDAP_TLS_OFF && (rc = start_tls(c->ld, tls, op_ms)) != LDAP_SUCCESS) {
        char *diag = NULL;
        ldap_get_option(c->ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
        code = tls_failure(target, port, tls, ca_file, connect_ms, op_ms, rc, diag, err);
        ldap_memfree(diag);
        adb_ldap_close(c);
        return code;
    }
    if (tls != ADB_LDAP_TLS_OFF) {
        /* AD forbids a SASL layer inside TLS (MS-ADTS 5.1.2.1): Kerberos
         * authenticates, TLS protects.  The channel binding ties the
         * Kerberos authenticator to this TLS channel, which Windows DCs with
         * LdapEnforceChannelBinding require. */
        ssf_min = 0;
        ldap_set_option(c->ld, LDAP_OPT_X_SASL_SSF_MAX, &ssf_max);
        ldap_set_option(c->ld, LDAP_OPT_X_SASL_CBINDING, &cbinding);
    }
    ldap_set_option(c->ld, LDAP_OPT_X_SASL_SSF_MIN, &ssf_min);
    rc = ldap_sasl_interactive_bind_s(c->ld, NULL, "GSSAPI", NULL, NULL, LDAP_SASL_QUIET,
                                      sasl_interact, NULL);
    if (rc != LDAP_SUCCESS && tls != ADB_LDAP_TLS_OFF
        && (rc == LDAP_STRONG_AUTH_REQUIRED || rc == LDAP_UNWILLING_TO_PERFORM)) {
        adb_error e = { 0 };
        ldap_fail(c, rc, &e, "GSSAPI bind inside TLS");
        code = adb_error_set(err, ADB_E_TLS, "%s; the DC refuses Kerberos binds inside TLS: Windows DCs allow "
                             "them; on a Samba DC set \"ldap server require strong auth = allow_sasl_over_tls\"; "
                             "or set ldap.tls to \"off\" (sealed GSSAPI on port 389)", e.message);
        adb_ldap_close(c);
        return code;
    }
    if (rc != LDAP_SUCCESS) {
        adb_error e = { 0 };
        code = ldap_fail(c, rc, &e, "GSSAPI bind as the machine account");
        if (code == ADB_E_LDAP)
            code = adb_error_set(err, ADB_E_KERBEROS, "%s (is there a ticket for ldap/%s? check the "
                                 "DC's name, the clock and the keytab)", e.message, target->host);
        else
            adb_error_set(err, code, "%s", e.message);
        adb_ldap_close(c);
        return code;
    }
    if (tls != ADB_LDAP_TLS_OFF) {
        c->ssf = tls_ssf(c->ld, tls_desc, sizeof tls_desc);
        snprintf(c->protection, sizeof c->protection, "%s + GSSAPI (no SASL layer), %s port %d", tls_desc,
                 tls_mode_name(tls), port);
    } else {
        ldap_get_option(c->ld, LDAP_OPT_X_SASL_SSF, &ssf);
        c->ssf = (unsigned)ssf;
        snprintf(c->protection, sizeof c->protection, "GSSAPI %s (SSF %u), port %d",
                 c->ssf >= 56 ? "sign+seal" : c->ssf > 0 ? "sign" : "no SASL layer", c->ssf, port);
    }
    if (c->ssf < min_ssf) {
        code = adb_error_set(err, ADB_E_LDAP, "%s negotiated security strength %u (%s), below the required %u: "
                             "refusing an unprotected connection", target->host, c->ssf, c->protection, min_ssf);
        adb_ldap_close(c);
        return code;
    }
    *out = c;
    return ADB_OK;
}

void adb_ldap_close(adb_ldap_conn *c)
{
    if (c == NULL)
        return;
    if (c->ld != NULL)
        ldap_unbind_ext_s(c->ld, NULL, NULL);
    free(c->host);
    free(c);
}

unsigned adb_ldap_ssf(const adb_ldap_conn *c) { return c->ssf; }
const char *adb_ldap_protection(const adb_ldap_conn *c) { return c->protection; }
const char *adb_ldap_host(const adb_ldap_conn *c) { return c->host; }
bool adb_ldap_broken(const adb_ldap_conn *c) { return c->broken; }

static char **copy_attrs(const char *const *attrs)
{
    size_t n = 0;
    char **copy;

    while (attrs != NULL && attrs[n] != NULL)
        n++;
    if ((copy = calloc(n + 1, sizeof *copy)) == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if ((copy[i] = strdup(attrs[i])) == NULL) {
            ber_memvfree((void **)copy);
            return NULL;
        }
    return copy;
}

adb_code adb_ldap_search_begin(adb_ldap_conn *c, const char *base, int scope, const char *filter,
                               const char *const *attrs, int page_size,
                               adb_ldap_search **out, adb_error *err)
{
    adb_ldap_search *s = calloc(1, sizeof *s);

    *out = NULL;
    if (s == NULL || (s->base = strdup(base)) == NULL || (s->filter = strdup(filter)) == NULL
        || (attrs != NULL && (s->attrs = copy_attrs(attrs)) == NULL)) {
        adb_ldap_search_end(s);
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    }
    s->c = c;
    s->scope = scope;
    s->page_size = page_size > 0 || page_size == -1 ? page_size : DEFAULT_PAGE;
    *out = s;
    return ADB_OK;
}

/* Sends the search for the next page and waits for all of it. */
static adb_code fetch_page(adb_ldap_search *s, adb_error *err)
{
    adb_ldap_conn *c = s->c;
    LDAPControl *page = NULL, *ctrls[2] = { NULL, NULL }, **resp = NULL, *found;
    struct timeval tv = ms_to_tv(c->op_timeout_ms);
    ber_int_t estimate;
    int rc, result = LDAP_SUCCESS;
    adb_code code = ADB_OK;

    ldap_msgfree(s->res);
    s->res = s->next = NULL;
    if (s->page_size > 0) {
        rc = ldap_create_page_control(c->ld, s->page_size, s->cookie.bv_val != NULL ? &s->cookie : NULL,
                                      1, &page);
        if (rc != LDAP_SUCCESS)
            return ldap_fail(c, rc, err, "paged-results control");
        ctrls[0] = page;
    }
    rc = ldap_search_ext_s(c->ld, s->base, s->scope, s->filter, s->attrs, 0, ctrls, NULL, &tv, 0, &s->res);
    ldap_control_free(page);
    if (rc != LDAP_SUCCESS && s->res == NULL)
        return ldap_fail(c, rc, err, "search");
    rc = ldap_parse_result(c->ld, s->res, &result, NULL, NULL, NULL, &resp, 0);
    if (rc != LDAP_SUCCESS)
        return ldap_fail(c, rc, err, "search result");
    if (result == LDAP_SIZELIMIT_EXCEEDED && s->page_size < 0) {   /* unpaged, cut short: ask again paged */
        ldap_controls_free(resp);
        s->page_size = DEFAULT_PAGE;
        return fetch_page(s, err);
    }
    if (result != LDAP_SUCCESS) {
        code = ldap_fail(c, result, err, "search");
        adb_error_prefix(err, "base '%s' filter '%s'", s->base, s->filter);
        ldap_controls_free(resp);
        return code;
    }
    ber_memfree(s->cookie.bv_val);
    s->cookie.bv_val = NULL;
    s->cookie.bv_len = 0;
    found = ldap_control_find(LDAP_CONTROL_PAGEDRESULTS, resp, NULL);
    if (s->page_size < 0 || found == NULL
        || ldap_parse_pageresponse_control(c->ld, found, &estimate, &s->cookie) != LDAP_SUCCESS
        || s->cookie.bv_len == 0)
        s->last_page = true;
    ldap_controls_free(resp);
    s->next = ldap_first_entry(c->ld, s->res);
    return ADB_OK;
}

adb_code adb_ldap_search_next(adb_ldap_search *s, adb_ldap_entry **out, adb_error *err)
{
    adb_code code;

    *out = NULL;
    while (s->next == NULL) {
        if (s->last_page)
            return ADB_OK;
        if ((code = fetch_page(s, err)) != ADB_OK)
            return code;
    }
    code = ldap_entry_decode(s->c->ld, s->next, out, err);
    s->next = ldap_next_entry(s->c->ld, s->next);
    return code;
}

void adb_ldap_search_end(adb_ldap_search *s)
{
    if (s == NULL)
        return;
    ldap_msgfree(s->res);
    ber_memfree(s->cookie.bv_val);
    ber_memvfree((void **)s->attrs);
    free(s->base);
    free(s->filter);
    free(s);
}

adb_code adb_ldap_read(adb_ldap_conn *c, const char *dn, const char *filter,
                       const char *const *attrs, adb_ldap_entry **out, adb_error *err)
{
    adb_ldap_search *s;
    adb_code code;

    *out = NULL;
    if ((code = adb_ldap_search_begin(c, dn, ADB_LDAP_SCOPE_BASE, filter != NULL ? filter : "(objectClass=*)",
                                      attrs, 1, &s, err)) != ADB_OK)
        return code;
    code = adb_ldap_search_next(s, out, err);
    adb_ldap_search_end(s);
    if (code == ADB_OK && *out == NULL)
        code = adb_error_set(err, ADB_E_NOT_FOUND, "%s: no such object on %s", dn, c->host);
    return code;
}

/* Parses the "lo-hi" of "attr;range=lo-hi"; hi = -1 for "*". */
static bool parse_range(const char *name, long *lo, long *hi)
{
    const char *r = strcasestr(name, ";range=");
    char *end;

    if (r == NULL)
        return false;
    r += 7;
    *lo = strtol(r, &end, 10);
    if (end == r || *end != '-' || *lo < 0)
        return false;
    if (strcmp(end + 1, "*") == 0) {
        *hi = -1;
        return true;
    }
    r = end + 1;
    *hi = strtol(r, &end, 10);
    return end != r && *end == '\0' && *hi >= *lo;
}

adb_code adb_ldap_read_all_values(adb_ldap_conn *c, const char *dn, const char *attr,
                                  bool (*fn)(const struct berval *value, void *arg), void *arg,
                                  adb_error *err)
{
    long lo = 0;

    for (;;) {
        char want[128];
        const char *attrs[2] = { want, NULL };
        adb_ldap_entry *e;
        const adb_ldap_attr *a;
        long got_lo = 0, got_hi = -1;
        bool more;
        adb_code code;

        /* Bounded windows, as Windows clients ask: a DC with a smaller
         * MaxValRange answers a shorter range, one with a larger (Samba has
         * none) still answers in steps, so this loop is what always runs. */
        snprintf(want, sizeof want, "%s;range=%ld-%ld", attr, lo, lo + ADB_LDAP_RANGE_STEP - 1);
        if ((code = adb_ldap_read(c, dn, NULL, attrs, &e, err)) != ADB_OK)
            return code;
        if ((a = adb_ldap_entry_attr(e, attr)) == NULL) {               /* no (more) values */
            adb_ldap_entry_free(e);
            return ADB_OK;
        }
        /* Without ";range=" the server sent every value at once. */
        more = parse_range(a->name, &got_lo, &got_hi) && got_hi >= 0;
        if (strchr(a->name, ';') != NULL && got_lo != lo) {
            adb_ldap_entry_free(e);
            return adb_error_set(err, ADB_E_PROTOCOL, "%s: asked for %s from %ld, got %s", c->host, attr,
                                 lo, a->name);
        }
        for (size_t i = 0; a->values != NULL && a->values[i] != NULL; i++)
            if (!fn(a->values[i], arg)) {
                adb_ldap_entry_free(e);
                return ADB_OK;
            }
        adb_ldap_entry_free(e);
        if (!more)
            return ADB_OK;
        lo = got_hi + 1;
    }
}

/*
 * The command line as a function: usage errors exit 2 with one line, token create prints only
 * the secret and refuses a taken name, import and backup work on a data directory, and serve
 * starts and stops cleanly on SIGTERM.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "app/app.h"
#include "test.h"

static char out_[8192], err_[8192];

static void slurp(int fd, char *buf, size_t cap)
{
    ssize_t n = pread(fd, buf, cap - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    close(fd);
}

static int tmpfd(void)
{
    char tmpl[] = "/tmp/omnihub-cli-XXXXXX";
    int fd = mkstemp(tmpl);
    if (fd < 0)
        abort();
    unlink(tmpl);
    return fd;
}

/* Runs `omnihub args...` with stdout and stderr captured into out_ and err_. */
static int run(int argc, const char **argv)
{
    int fo = tmpfd(), fe = tmpfd(), so = dup(1), se = dup(2);
    fflush(stdout);
    fflush(stderr);
    dup2(fo, 1);
    dup2(fe, 2);
    int rc = hub_cli_main(argc, (char **)argv);
    fflush(stdout);
    fflush(stderr);
    dup2(so, 1);
    dup2(se, 2);
    close(so);
    close(se);
    slurp(fo, out_, sizeof(out_));
    slurp(fe, err_, sizeof(err_));
    return rc;
}

#define RUN_CLI(...)                                                                               \
    run((int)(sizeof((const char *[]){"omnihub", __VA_ARGS__}) / sizeof(const char *)),            \
        (const char *[]){"omnihub", __VA_ARGS__})

static int one_line(const char *s)
{
    const char *nl = strchr(s, '\n');
    return nl != NULL && nl[1] == '\0';
}

static void test_usage(void)
{
    CHECK(RUN_CLI("--version") == 0);
    CHECK_STR(out_, "omnihub 0.1.0\n");
    CHECK(RUN_CLI("--help") == 0);
    CHECK(strstr(out_, "omnihub serve --data DIR") != NULL);
    CHECK(strstr(out_, "omnihub render --data DIR --item KEY --channel C") != NULL);
    CHECK(RUN_CLI("frobnicate") == 2);
    CHECK_STR(err_, "omnihub: unknown command 'frobnicate' (see omnihub --help)\n");
    CHECK(RUN_CLI("serve") == 2);
    CHECK_STR(err_, "omnihub: serve needs --data DIR (see omnihub --help)\n");
    CHECK(RUN_CLI("serve", "--data", "/tmp/x", "--bogus", "1") == 2);
    CHECK_STR(err_, "omnihub: unknown option --bogus (see omnihub --help)\n");
    CHECK(RUN_CLI("serve", "--data", "/tmp/x", "--listen", "8080") == 2);
    CHECK(strstr(err_, "--listen must be HOST:PORT") != NULL && one_line(err_));
    CHECK(RUN_CLI("serve", "--data", "/tmp/x", "--threads=0") == 2);
    CHECK(strstr(err_, "--threads must be an integer 1..256") != NULL && one_line(err_));
    CHECK(RUN_CLI("serve", "--data") == 2);
    CHECK_STR(err_, "omnihub: option --data needs a value (see omnihub --help)\n");
    CHECK(RUN_CLI("token", "create", "--data", "/tmp/x", "--name", "a", "--role", "root") == 2);
    CHECK(strstr(err_, "--role admin|editor|delivery|preview") != NULL && one_line(err_));
    CHECK(RUN_CLI("token", "delete", "--data", "/tmp/x") == 2);
    CHECK(RUN_CLI("import", "--data", "/tmp/x") == 2);
    CHECK_STR(err_, "omnihub: import needs at least one PATH (see omnihub --help)\n");
    CHECK(RUN_CLI("backup", "--data", "/tmp/x") == 2);
    CHECK(RUN_CLI("backup", "--data", "/tmp/x", "a", "b") == 2);
    CHECK_STR(err_, "omnihub: unexpected argument 'b' (see omnihub --help)\n");
}

static void test_bad_config(void)
{
    const char *dir = test_tmpdir("app_cli_config");
    char path[600];
    snprintf(path, sizeof(path), "%s/c.json", dir);
    FILE *f = fopen(path, "w");
    REQUIRE(f != NULL);
    fputs("{\"channels\": {\"email\": {\"smtp\": {\"hots\": \"x\"}}}}", f);
    fclose(f);
    CHECK(RUN_CLI("serve", "--data", dir, "--config", path) == 2);
    /* The channel's plugin checks its section; the start-up stops with one line naming it. */
    CHECK_STR(err_, "omnihub: config: /channels/email: channels.email.smtp: unknown key 'hots'\n");
}

static void test_token_import_backup(void)
{
    const char *base = test_tmpdir("app_cli_store");
    char data[600], bak[600], samples[1024], mdb[700];
    const char *f = __FILE__, *cut = strstr(f, "tests/unit/app/");
    REQUIRE(cut != NULL);
    snprintf(samples, sizeof(samples), "%.*scontent-samples", (int)(cut - f), f);
    snprintf(data, sizeof(data), "%s/data", base);
    snprintf(bak, sizeof(bak), "%s/backup", base);

    CHECK(RUN_CLI("token", "create", "--data", data, "--role", "editor", "--name", "email-team",
                  "--channels", "email,sms", "--tags", "campaign/") == 0);
    CHECK(strncmp(out_, "oh_", 3) == 0 && one_line(out_));
    CHECK(strlen(out_) == HUB_TOKEN_SECRET_LEN); /* "oh_" + 43 + '\n' */
    CHECK_STR(err_, "");
    char secret[HUB_TOKEN_SECRET_LEN + 1];
    snprintf(secret, sizeof(secret), "%.*s", (int)strcspn(out_, "\n"), out_);
    CHECK(RUN_CLI("token", "create", "--data", data, "--role", "admin", "--name", "email-team") ==
          1);
    CHECK_STR(err_, "omnihub: token name already exists\n");
    CHECK_STR(out_, "");
    CHECK(RUN_CLI("token", "create", "--data", data, "--role", "admin", "--name", "bad name") == 2);
    CHECK(one_line(err_));

    CHECK(RUN_CLI("import", "--data", data, samples) == 0);
    CHECK(strstr(err_, "imported 4 locales, 23 terms, 12 items (10 published), 2 journeys; 0 "
                       "files rejected\n") != NULL);

    CHECK(RUN_CLI("backup", "--data", data, bak) == 0);
    CHECK_STR(out_, "");
    CHECK_STR(err_, "");
    struct stat st;
    snprintf(mdb, sizeof(mdb), "%s/data.mdb", bak);
    CHECK(stat(mdb, &st) == 0 && st.st_size > 0);
    CHECK(RUN_CLI("backup", "--data", data, bak) == 1); /* not empty any more */
    CHECK(one_line(err_));

    /* The backup is a store with the token and the content in it. */
    hub_store *s = NULL;
    hub_error err;
    hub_txn *t;
    hub_principal p;
    hub_error_init(&err);
    hub_store_options o = {.dir = bak, .read_only = 1};
    REQUIRE(hub_store_open(&s, &o, &err) == 0);
    REQUIRE(hub_store_read(s, &t) == 0);
    CHECK(hub_auth_lookup(t, secret, strlen(secret), &p) == 0);
    CHECK_STR(p.name, "email-team");
    CHECK(p.role == HUB_ROLE_EDITOR && p.nchannels == 2 && p.ntags == 1);
    CHECK(hub_txn_count(t, HUB_DB_HEADS) == 10);
    hub_txn_end(t);
    hub_store_close(s);
    hub_error_clear(&err);
}

static void *send_term(void *arg)
{
    struct timespec ts = {0, 300 * 1000 * 1000};
    (void)arg;
    nanosleep(&ts, NULL);
    kill(getpid(), SIGTERM);
    return NULL;
}

static void test_serve_stops_on_sigterm(void)
{
    const char *dir = test_tmpdir("app_cli_serve");
    sigset_t set;
    pthread_t th;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* so the helper thread never takes it */
    REQUIRE(pthread_create(&th, NULL, send_term, NULL) == 0);
    int rc = RUN_CLI("serve", "--data", dir, "--listen", "127.0.0.1:0", "--threads", "1");
    pthread_join(th, NULL);
    CHECK(rc == 0);
    CHECK(strstr(err_, "omnihub listening on http://127.0.0.1:") != NULL);
    CHECK(strstr(err_, " (1 threads, data ") != NULL);
}

int main(void)
{
    RUN(test_usage);
    RUN(test_bad_config);
    RUN(test_token_import_backup);
    RUN(test_serve_stops_on_sigterm);
    return TEST_SUMMARY();
}

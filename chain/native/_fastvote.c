/* _fastvote: the hot calls of signed-vote verification (chain.eip712), each one C call instead of several
 * trips through ctypes/cffi and Python glue.
 *
 * No crypto is implemented here: Keccak-256 is pycryptodome's C core and ECDSA recovery is libsecp256k1 from
 * coincurve's build, both already loaded in the process. chain.eip712 hands their function addresses (and
 * libsecp256k1's context) to setup() once at import, then checks every function against its reference.
 *
 * The GIL is held for the whole of every call and no call here releases it, so one static Keccak state and
 * static buffers are safe.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* pycryptodome's Hash/keccak.c */
typedef int (*keccak_init_fn)(void **state, size_t capacity_bytes, uint8_t rounds);
typedef int (*keccak_reset_fn)(void *state);
typedef int (*keccak_absorb_fn)(void *state, const uint8_t *in, size_t len);
typedef int (*keccak_digest_fn)(void *state, uint8_t *digest, size_t len, uint8_t padding);

/* libsecp256k1 (include/secp256k1.h, secp256k1_recovery.h); the structs are opaque byte arrays there too */
typedef struct { unsigned char data[65]; } recoverable_signature;
typedef struct { unsigned char data[64]; } pubkey;
typedef int (*parse_fn)(const void *ctx, recoverable_signature *sig, const unsigned char *input64, int recid);
typedef int (*recover_fn)(const void *ctx, pubkey *key, const recoverable_signature *sig, const unsigned char *msg32);
typedef int (*serialize_fn)(const void *ctx, unsigned char *out, size_t *outlen, const pubkey *key, unsigned int flags);

static keccak_reset_fn k_reset;
static keccak_absorb_fn k_absorb;
static keccak_digest_fn k_digest;
static void *k_state; /* one Keccak-256 state, reset before each hash */
static parse_fn s_parse;
static recover_fn s_recover;
static serialize_fn s_serialize;
static const void *s_ctx;
static unsigned int s_uncompressed; /* SECP256K1_EC_UNCOMPRESSED, from coincurve.flags */

static int ready(void)
{
    if (k_state == NULL || s_ctx == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_fastvote.setup() has not been called");
        return 0;
    }
    return 1;
}

/* Keccak-256 (padding 0x01, not SHA-3's 0x06) of len bytes; 0 on success. */
static int hash(const uint8_t *data, size_t len, uint8_t out[32])
{
    if (k_reset(k_state) || k_absorb(k_state, data, len) || k_digest(k_state, out, 32, 0x01))
        return -1;
    return 0;
}

static PyObject *hash_error(void)
{
    PyErr_SetString(PyExc_RuntimeError, "keccak failed");
    return NULL;
}

/* setup(keccak_init, keccak_reset, keccak_absorb, keccak_digest, parse, recover, serialize, ctx, flag):
 * addresses as ints. Only chain.eip712 calls it, with addresses taken from the loaded libraries: a wrong
 * address here would crash the process, which is why the module is private. */
static PyObject *setup(PyObject *self, PyObject *args)
{
    unsigned long long init, reset, absorb, digest, parse, recover, serialize, ctx;
    unsigned int flag;
    if (!PyArg_ParseTuple(args, "KKKKKKKKI:setup", &init, &reset, &absorb, &digest, &parse, &recover,
                          &serialize, &ctx, &flag))
        return NULL;
    if (!init || !reset || !absorb || !digest || !parse || !recover || !serialize || !ctx) {
        PyErr_SetString(PyExc_ValueError, "null address");
        return NULL;
    }
    if (k_state == NULL) { /* a second setup (a reload of chain.eip712) keeps the first state */
        void *state = NULL;
        if (((keccak_init_fn)(uintptr_t)init)(&state, 64, 24) || state == NULL) { /* capacity 512 bits, 24 rounds */
            PyErr_SetString(PyExc_RuntimeError, "keccak_init failed");
            return NULL;
        }
        k_state = state;
    }
    k_reset = (keccak_reset_fn)(uintptr_t)reset;
    k_absorb = (keccak_absorb_fn)(uintptr_t)absorb;
    k_digest = (keccak_digest_fn)(uintptr_t)digest;
    s_parse = (parse_fn)(uintptr_t)parse;
    s_recover = (recover_fn)(uintptr_t)recover;
    s_serialize = (serialize_fn)(uintptr_t)serialize;
    s_ctx = (const void *)(uintptr_t)ctx;
    s_uncompressed = flag;
    Py_RETURN_NONE;
}

/* keccak256(data) -> 32 bytes. bytes directly; anything else as bytes(data) would take it (TypeError for
 * str and int, like pycryptodome). */
static PyObject *keccak256(PyObject *self, PyObject *arg)
{
    uint8_t out[32];
    int failed;
    if (!ready())
        return NULL;
    if (PyBytes_CheckExact(arg)) {
        failed = hash((const uint8_t *)PyBytes_AS_STRING(arg), (size_t)PyBytes_GET_SIZE(arg), out);
    } else {
        if (PyLong_Check(arg) || PyUnicode_Check(arg)) { /* bytes(5) would be five zero bytes: refuse */
            PyErr_Format(PyExc_TypeError, "keccak256 takes bytes, not %.100s", Py_TYPE(arg)->tp_name);
            return NULL;
        }
        PyObject *copy = PyBytes_FromObject(arg);
        if (copy == NULL)
            return NULL;
        failed = hash((const uint8_t *)PyBytes_AS_STRING(copy), (size_t)PyBytes_GET_SIZE(copy), out);
        Py_DECREF(copy);
    }
    if (failed)
        return hash_error();
    return PyBytes_FromStringAndSize((const char *)out, 32);
}

/* recover_address(digest32, r ‖ s ‖ recid) -> the signer's 20 address bytes, or None when the lengths are
 * wrong, recid > 3 or nothing recovers: parse, recover, serialize and keccak in one call. No low-s check
 * (the callers make it). TypeError for what is not bytes-like. */
static PyObject *recover_address(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer digest, rsv;
    recoverable_signature sig;
    pubkey key;
    unsigned char point[65];
    size_t point_len = sizeof point;
    uint8_t out[32];
    int ok;

    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "recover_address(digest, rsv) takes 2 arguments");
        return NULL;
    }
    if (!ready() || PyObject_GetBuffer(args[0], &digest, PyBUF_SIMPLE) < 0)
        return NULL;
    if (PyObject_GetBuffer(args[1], &rsv, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&digest);
        return NULL;
    }
    const unsigned char *r = rsv.buf;
    ok = digest.len == 32 && rsv.len == 65 && r[64] <= 3
         && s_parse(s_ctx, &sig, r, r[64]) && s_recover(s_ctx, &key, &sig, digest.buf);
    PyBuffer_Release(&digest);
    PyBuffer_Release(&rsv);
    if (!ok)
        Py_RETURN_NONE;
    if (!s_serialize(s_ctx, point, &point_len, &key, s_uncompressed) || point_len != 65)
        Py_RETURN_NONE;
    if (hash(point + 1, 64, out)) /* the address: keccak of x ‖ y, last 20 bytes */
        return hash_error();
    return PyBytes_FromStringAndSize((const char *)out + 12, 20);
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* checksum_address(value) -> its EIP-55 form, or None: exactly chain.eip712's Python checksum_address. value
 * must be a str, "0x" + 40 hex digits, either in one case (or no letters) or already in its EIP-55 form. */
static PyObject *checksum_address(PyObject *self, PyObject *value)
{
    char lower[40], result[42];
    uint8_t flags[32];
    int upper = 0, lowercase = 0;

    if (!ready())
        return NULL;
    if (!PyUnicode_CheckExact(value) || !PyUnicode_IS_ASCII(value) || PyUnicode_GET_LENGTH(value) != 42)
        Py_RETURN_NONE;
    const unsigned char *text = PyUnicode_1BYTE_DATA(value);
    if (text[0] != '0' || text[1] != 'x')
        Py_RETURN_NONE;
    for (int i = 0; i < 40; i++) {
        unsigned char c = text[2 + i];
        if (hex_value(c) < 0)
            Py_RETURN_NONE;
        upper |= c >= 'A' && c <= 'F';
        lowercase |= c >= 'a' && c <= 'f';
        lower[i] = (char)(c >= 'A' && c <= 'F' ? c + 32 : c);
    }
    if (hash((const uint8_t *)lower, 40, flags)) /* EIP-55 hashes the lower-case hex text */
        return hash_error();
    result[0] = '0';
    result[1] = 'x';
    for (int i = 0; i < 40; i++) { /* a letter is upper-case where its nibble of the hash is >= 8 */
        int nibble = i % 2 ? flags[i / 2] & 0x0f : flags[i / 2] >> 4;
        char c = lower[i];
        result[2 + i] = (char)(c >= 'a' && nibble >= 8 ? c - 32 : c);
    }
    if (upper && lowercase && memcmp(result, text, 42) != 0) /* mixed case: must be the checksum itself */
        Py_RETURN_NONE;
    return PyUnicode_FromStringAndSize(result, 42);
}

static PyMethodDef methods[] = {
    {"setup", setup, METH_VARARGS, "Hand over the keccak and libsecp256k1 function addresses (chain.eip712)."},
    {"keccak256", keccak256, METH_O, "keccak256(data) -> 32 bytes (Keccak-256, Ethereum's)."},
    {"recover_address", (PyCFunction)(void (*)(void))recover_address, METH_FASTCALL,
     "recover_address(digest32, rsv65) -> 20 address bytes, or None."},
    {"checksum_address", checksum_address, METH_O, "checksum_address(value) -> EIP-55 str, or None."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fastvote", NULL, -1, methods};

PyMODINIT_FUNC PyInit__fastvote(void)
{
    return PyModule_Create(&module);
}

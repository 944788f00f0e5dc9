"""Professional-title (职称) e-certificates: pure domain logic, and services on top of it.

The pure modules know nothing about aiohttp, the ORM or WeChat: the web pages, the
models and the chat flows call them and pass plain values in. The service modules listed
last load and store through the ORM and the state store, and still know no aiohttp.

Modules:
    idcard          resident ID number validation, masking, test-number generator
    personal_data   encryption at rest and keyed lookup hashes for personal data
    signing         signed QR verification tokens and the signing key ring
    algorithms      the registry of signature algorithms (Ed25519 now, SM2 later)
    qr              QR images (PNG/SVG) of verification URLs, with a small LRU cache
    status          the verification verdict and the "may this committee issue" check
    statement       signed verification statements (the verdict's display fields, signed)
    offline_verify  command-line verifier of a QR image or token against published keys
    keytool         command-line generation/rotation/export of the signing keyset
    clock           the service's calendar day (China Standard Time)
    printable       the printable e-certificate page (PNG/PDF, Pillow + a CJK font)
    import_rows     reading and checking import rows (CSV/XLSX), pure

Services on the database and the state store (built on the modules above):
    registry        CertificateService: committees, issuing, QR images, verification,
                    revocation, blacklist; `blacklisted_year` for the eligibility check
    importer        all-or-nothing import with progress
    binding         one-time codes binding a WeChat user to a talent record
    verification_log  batched log of who verified which certificate
    hotpath         shared rate-limit counters, the process-local record cache, and
                    batched record loads shared by concurrent cold scans
    blacklist       a bound user's blacklist standing: the `blacklisted_year` answer
                    the 资格自测 interview takes from the record (handlers.interview)
    qr_backfill     QR images of imported certificates, made after the commit
"""

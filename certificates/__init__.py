"""Pure domain logic for professional-title (职称) e-certificates.

Nothing in this package knows about aiohttp, the ORM or WeChat: the web pages, the
models and the chat flows call these modules and pass plain values in.

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
"""

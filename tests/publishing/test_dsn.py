"""The DSN's password, in either DSN form, never survives `mask_secrets`."""

from publishing.dsn import mask_secrets, redact_dsn


def test_redact_keeps_everything_but_the_password():
    assert (
        redact_dsn("postgresql://bi:s3cret@db:5432/siyu?sslmode=require")
        == "postgresql://bi:***@db:5432/siyu?sslmode=require"
    )
    assert redact_dsn("postgresql://bi@db/siyu") == "postgresql://bi@db/siyu"
    assert (
        redact_dsn("postgres://db/siyu?user=bi&password=s3%21cret")
        == "postgres://db/siyu?user=bi&password=***"
    )
    assert (
        redact_dsn("host=db password='se cr\\'et' dbname=siyu")
        == "host=db password=*** dbname=siyu"
    )


def test_mask_finds_the_password_in_the_forms_libpq_shows_it():
    dsn = "postgresql://bi:p%zz@ss@db:5432/siyu"
    assert (
        mask_secrets(f"could not use {dsn}", dsn)
        == "could not use postgresql://bi:***@db:5432/siyu"
    )
    # a bare '%' is quoted back; an unencoded '@' cuts the password: the rest shows as a host
    assert (
        mask_secrets('invalid percent-encoded token: "p%zz@ss"', dsn)
        == 'invalid percent-encoded token: "***"'
    )
    assert "ss@db" not in mask_secrets("failed to resolve host 'ss@db'", dsn)
    encoded = "postgresql://bi:pa%40ss%21@db/siyu"
    assert mask_secrets("password pa@ss! rejected", encoded) == "password *** rejected"
    keyword = "host=db password='se cr\\'et' dbname=siyu"
    assert mask_secrets("bad password se cr'et", keyword) == "bad password ***"
    assert mask_secrets("nothing secret", None) == "nothing secret"

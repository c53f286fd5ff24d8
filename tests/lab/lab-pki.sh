#!/bin/sh
# lab-pki.sh: the lab's test PKI, made at test time with the openssl CLI.
#
#   lab-pki.sh DIR
#       make DIR/root.pem (the only thing to trust: also DIR/ca-bundle.pem), an
#       intermediate CA and the standard leaves below.
#   lab-pki.sh DIR leaf NAME KIND CN [DNSNAME...]
#       issue one more leaf from the intermediate of an existing DIR.
#       KIND: valid | expired | notyet | cnonly | selfsigned
#
# Every leaf NAME gives DIR/NAME.key, DIR/NAME.crt (the leaf alone: serve it
# to play a server that forgets its intermediate) and DIR/NAME.pem (leaf then
# intermediate: what a correct server sends). Keys are EC P-256.
#
# Standard leaves; "the names" are $LAB_PKI_NAMES, by default mx.d.test
# mx1.d.test mx2.d.test mx3.d.test mail.d.test mta-sts.d.test:
#   valid       SAN = the names             expired    SAN = the names, 2020-2021
#   notyet      SAN = the names, 2090-2091  wrongname  SAN = mx.wrong.test, mta-sts.wrong.test
#   cnonly      CN = first name, no SAN     wildcard   SAN = *.d.test
#   selfsigned  SAN = the names, not signed by the root
#   web         SAN = mta-sts.d.test
set -eu

usage() {
	if [ "$1" -eq 0 ]; then
		sed -n '2,23s/^# \{0,1\}//p' "$0"
	else
		sed -n '2,23s/^# \{0,1\}//p' "$0" >&2
	fi
	exit "$1"
}

[ $# -ge 1 ] || usage 64
case "$1" in -h|--help) usage 0 ;; esac
DIR=$1
shift
: "${LAB_PKI_NAMES:=mx.d.test mx1.d.test mx2.d.test mx3.d.test mail.d.test mta-sts.d.test}"
command -v openssl >/dev/null 2>&1 || { echo "lab-pki.sh: openssl not found" >&2; exit 69; }

write_config() {
	mkdir -p "$DIR/ca/new"
	: > "$DIR/ca/index.txt"
	echo 1000 > "$DIR/ca/serial"
	cat > "$DIR/ca/openssl.cnf" <<EOF
[ ca ]
default_ca = lab
[ lab ]
dir = $DIR/ca
database = \$dir/index.txt
new_certs_dir = \$dir/new
serial = \$dir/serial
default_md = sha256
policy = lab_policy
unique_subject = no
email_in_dn = no
copy_extensions = none
default_days = 3650
[ lab_policy ]
commonName = supplied
[ req ]
distinguished_name = req_dn
prompt = no
[ req_dn ]
CN = unused
[ ext_root ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[ ext_inter ]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ ext_leaf ]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = \${ENV::LAB_SAN}
[ ext_cnonly ]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ ext_self ]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
subjectAltName = \${ENV::LAB_SAN}
EOF
}

newkey() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
	chmod 600 "$1"
}

san_of() { # DNSNAME... -> DNS:a,DNS:b
	s=
	for n in "$@"; do s="${s:+$s,}DNS:$n"; done
	echo "$s"
}

sign() { # CSR OUT ISSUER-CERT ISSUER-KEY EXT [openssl ca date options]
	csr=$1 out=$2 icert=$3 ikey=$4 ext=$5
	shift 5
	openssl ca -batch -notext -rand_serial -config "$DIR/ca/openssl.cnf" \
	    -cert "$icert" -keyfile "$ikey" -extensions "$ext" \
	    -in "$csr" -out "$out" "$@" 2>"$DIR/ca/last.err" ||
	    { cat "$DIR/ca/last.err" >&2; exit 1; }
}

leaf() { # NAME KIND CN [DNSNAME...]
	name=$1 kind=$2 cn=$3
	shift 3
	[ $# -gt 0 ] || set -- "$cn"
	LAB_SAN=$(san_of "$@")
	export LAB_SAN
	newkey "$DIR/$name.key"
	if [ "$kind" = selfsigned ]; then
		openssl req -new -x509 -config "$DIR/ca/openssl.cnf" -key "$DIR/$name.key" \
		    -subj "/CN=$cn" -days 3650 -extensions ext_self -out "$DIR/$name.crt"
		cp "$DIR/$name.crt" "$DIR/$name.pem"
		return
	fi
	openssl req -new -config "$DIR/ca/openssl.cnf" -key "$DIR/$name.key" \
	    -subj "/CN=$cn" -out "$DIR/ca/$name.csr"
	case "$kind" in
	valid)	 sign "$DIR/ca/$name.csr" "$DIR/$name.crt" "$DIR/inter.pem" "$DIR/inter.key" ext_leaf ;;
	cnonly)	 sign "$DIR/ca/$name.csr" "$DIR/$name.crt" "$DIR/inter.pem" "$DIR/inter.key" ext_cnonly ;;
	expired) sign "$DIR/ca/$name.csr" "$DIR/$name.crt" "$DIR/inter.pem" "$DIR/inter.key" ext_leaf \
		     -startdate 20200101000000Z -enddate 20210101000000Z ;;
	notyet)	 sign "$DIR/ca/$name.csr" "$DIR/$name.crt" "$DIR/inter.pem" "$DIR/inter.key" ext_leaf \
		     -startdate 20900101000000Z -enddate 20910101000000Z ;;
	*)	 echo "lab-pki.sh: unknown kind $kind" >&2; exit 64 ;;
	esac
	cat "$DIR/$name.crt" "$DIR/inter.pem" > "$DIR/$name.pem"
}

if [ $# -ge 1 ] && [ "$1" = leaf ]; then
	[ $# -ge 4 ] || usage 64
	[ -f "$DIR/inter.key" ] || { echo "lab-pki.sh: no CA in $DIR (run lab-pki.sh $DIR first)" >&2; exit 66; }
	shift
	leaf "$@"
	exit 0
fi
[ $# -eq 0 ] || usage 64

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
write_config
LAB_SAN=unused
export LAB_SAN

newkey "$DIR/root.key"
openssl req -new -x509 -config "$DIR/ca/openssl.cnf" -key "$DIR/root.key" \
    -subj "/CN=stsrelay lab root CA" -days 3650 -extensions ext_root -out "$DIR/root.pem"
cp "$DIR/root.pem" "$DIR/ca-bundle.pem"
newkey "$DIR/inter.key"
openssl req -new -config "$DIR/ca/openssl.cnf" -key "$DIR/inter.key" \
    -subj "/CN=stsrelay lab intermediate CA" -out "$DIR/ca/inter.csr"
sign "$DIR/ca/inter.csr" "$DIR/inter.pem" "$DIR/root.pem" "$DIR/root.key" ext_inter

# shellcheck disable=SC2086
{
	set -- $LAB_PKI_NAMES
	leaf valid valid "$1" "$@"
	leaf expired expired "$1" "$@"
	leaf notyet notyet "$1" "$@"
	leaf selfsigned selfsigned "$1" "$@"
	leaf cnonly cnonly "$1"
	leaf wrongname valid mx.wrong.test mx.wrong.test mta-sts.wrong.test
	leaf wildcard valid '*.d.test' '*.d.test'
	leaf web valid mta-sts.d.test mta-sts.d.test
}

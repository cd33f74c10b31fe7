"""Writes the tiny FITS seed files of the `fits` fuzz target (a 3x2x2 map
cube and a 2-row 4FGL-like binary table), byte by byte, so that no data set
is copied. Run from fuzz/: python3 make_fits_seeds.py"""
import struct

def card(key, value=None, comment=""):
    if value is None:
        s = key.ljust(80)
    else:
        if isinstance(value, bool):
            v = ("T" if value else "F").rjust(20)
        elif isinstance(value, str):
            v = ("'" + value.ljust(8) + "'").ljust(20)
        elif isinstance(value, int):
            v = str(value).rjust(20)
        else:
            v = repr(float(value)).upper().rjust(20)
        s = (key.ljust(8) + "= " + v + (" / " + comment if comment else "")).ljust(80)
    assert len(s) == 80, s
    return s.encode("ascii")

def header(cards):
    b = b"".join(cards) + card("END")
    return b + b" " * ((-len(b)) % 2880)

def pad(data):
    return data + b"\0" * ((-len(data)) % 2880)

# Map cube: NAXIS1 = lon (3), NAXIS2 = lat (2), NAXIS3 = velocity (2).
cube = header([
    card("SIMPLE", True), card("BITPIX", -64), card("NAXIS", 3),
    card("NAXIS1", 3), card("NAXIS2", 2), card("NAXIS3", 2),
    card("CTYPE1", "GLON-CAR"), card("CRPIX1", 1.0), card("CRVAL1", 350.0), card("CDELT1", -0.25), card("CUNIT1", "deg"),
    card("CTYPE2", "GLAT-CAR"), card("CRPIX2", 1.0), card("CRVAL2", 0.0), card("CDELT2", 0.25), card("CUNIT2", "deg"),
    card("CTYPE3", "VRAD"), card("CRPIX3", 1.0), card("CRVAL3", -10.0), card("CDELT3", 5.0), card("CUNIT3", "km/s"),
    card("BUNIT", "K"),
])
values = [float(i) + 0.5 for i in range(12)]
values[4] = float("nan")
cube += pad(b"".join(struct.pack(">d", v) for v in values))
open("corpus/fits/cube.fits", "wb").write(cube)

# 4FGL-like catalog: empty primary HDU, then a binary table.
primary = header([card("SIMPLE", True), card("BITPIX", 8), card("NAXIS", 0), card("EXTEND", True)])
cols = [("Source_Name", "18A", 18), ("GLAT", "E", 4), ("CLASS1", "5A", 5), ("Pivot_Energy", "E", 4),
        ("LP_Index", "E", 4), ("LP_beta", "E", 4), ("Flux_Band", "7E", 28)]
rowlen = sum(c[2] for c in cols)
rows = [("4FGL J0001.2-0747", 45.0, "bll  ", 1500.0, 2.1, 0.05, [1e-8] * 7),
        ("4FGL J0002.0+0000", -60.0, "     ", 900.0, 2.5, 0.3, [2e-9] * 6 + [float("nan")])]
cards = [card("XTENSION", "BINTABLE"), card("BITPIX", 8), card("NAXIS", 2), card("NAXIS1", rowlen),
         card("NAXIS2", len(rows)), card("PCOUNT", 0), card("GCOUNT", 1), card("TFIELDS", len(cols))]
for i, (name, form, _) in enumerate(cols, 1):
    cards += [card(f"TTYPE{i}", name), card(f"TFORM{i}", form)]
cards.append(card("EXTNAME", "LAT_Point_Source_Catalog"))
data = b""
for name, glat, cls, piv, idx, beta, flux in rows:
    data += name.encode().ljust(18) + struct.pack(">f", glat) + cls.encode() + struct.pack(">fff", piv, idx, beta)
    data += b"".join(struct.pack(">f", f) for f in flux)
open("corpus/fits/catalog.fits", "wb").write(primary + header(cards) + pad(data))

"""EXIF parsing and crop-factor resolution on real files written with pyexiv2."""

from __future__ import annotations

import pytest

from photo_tagger.camera import resolve_crop_factor
from photo_tagger.metadata import from_exif, parse_number, read_metadata
from photos import camera_exif, make_photo


@pytest.mark.parametrize(
    "raw, expected",
    [("28/10", 2.8), ("0/0", None), ("100", 100.0), ("100 200", 100.0), ("", None), (None, None), ("x/y", None), ("1/0", None)],
)
def test_parse_number(raw, expected):
    assert parse_number(raw) == expected


def test_zero_and_missing_lens_values_count_as_missing(tmp_path):
    zero = read_metadata(make_photo(tmp_path / "z.jpg", exif=camera_exif(0.0, 0.0)).read_bytes())
    assert zero.fnumber is None and zero.focal_length is None and not zero.has_lens_exif
    only_f = read_metadata(make_photo(tmp_path / "f.jpg", exif=camera_exif(2.0, None)).read_bytes())
    assert only_f.fnumber == 2.0 and not only_f.has_lens_exif
    full = read_metadata(make_photo(tmp_path / "full.jpg", exif=camera_exif(5.6, 35.0)).read_bytes())
    assert full.has_lens_exif and full.fnumber == 5.6 and full.focal_length == 35.0


def test_body_records_are_read(tmp_path):
    exif = camera_exif(None, None, exposure="1/250", iso=800) | {"Exif.Photo.ExposureBiasValue": "-2/3", "Exif.Photo.Flash": "25"}
    meta = read_metadata(make_photo(tmp_path / "a.jpg", exif=exif).read_bytes())
    assert meta.exposure_time == pytest.approx(1 / 250)
    assert meta.iso == 800
    assert meta.exposure_bias == pytest.approx(-2 / 3)
    assert meta.flash_fired is True
    assert (meta.make, meta.model) == ("Canon", "Canon EOS 5D Mark II")


def test_photo_without_exif_reads_as_empty(tmp_path):
    meta = read_metadata(make_photo(tmp_path / "plain.png", fmt="PNG").read_bytes())
    assert meta.make is None and not meta.has_lens_exif


def test_crop_factor_sources_in_order_of_trust():
    tagged = from_exif({"Exif.Photo.FocalLength": "350/10", "Exif.Photo.FocalLengthIn35mmFilm": "52",
                        "Exif.Image.Make": "Canon", "Exif.Image.Model": "Canon EOS 5D Mark II"})
    assert resolve_crop_factor(tagged).source == "exif_35mm"
    assert resolve_crop_factor(tagged).value == pytest.approx(52 / 35, abs=1e-3)
    # 1024 px across 5.27 mm (a 1/2.7" compact): sensor from the focal-plane tags
    plane = from_exif({"Exif.Photo.FocalPlaneXResolution": "1024000/206", "Exif.Photo.FocalPlaneYResolution": "768000/155",
                       "Exif.Photo.FocalPlaneResolutionUnit": "2", "Exif.Photo.PixelXDimension": "1024",
                       "Exif.Photo.PixelYDimension": "768"})
    crop = resolve_crop_factor(plane)
    assert crop.source == "focal_plane" and 6.0 < crop.value < 7.0
    body = from_exif({"Exif.Image.Make": "NIKON CORPORATION", "Exif.Image.Model": "NIKON D7000"})
    assert resolve_crop_factor(body).source == "lensfun" and resolve_crop_factor(body).value == pytest.approx(1.523, abs=0.02)
    assert resolve_crop_factor(from_exif({"Exif.Image.Make": "Nobody", "Exif.Image.Model": "Imaginary 1"})) is None


def _full_frame_body(width: int, height: int):
    """A Canon EOS 5D Mark II (36 mm across 5616 px) whose pixel-dimension tags say width x height."""
    return from_exif({"Exif.Image.Make": "Canon", "Exif.Image.Model": "Canon EOS 5D Mark II",
                      "Exif.Photo.FocalPlaneXResolution": "5616000/1417", "Exif.Photo.FocalPlaneYResolution": "3744000/945",
                      "Exif.Photo.FocalPlaneResolutionUnit": "2", "Exif.Photo.PixelXDimension": str(width),
                      "Exif.Photo.PixelYDimension": str(height)})


def test_a_resized_copy_does_not_shrink_the_sensor():
    """An export to 2048 px whose dimension tags were updated (focal-plane tags kept) would
    read as a 2.7x sensor; lensfun's full frame wins, so the real focal length written
    later is not 2.7 times too short."""
    whole = resolve_crop_factor(_full_frame_body(5616, 3744))
    assert whole.source == "focal_plane" and whole.value == pytest.approx(1.0, abs=0.02)
    copy = resolve_crop_factor(_full_frame_body(2048, 1365))
    assert copy.source == "lensfun" and copy.value == pytest.approx(1.0)


def test_an_in_camera_crop_mode_keeps_the_focal_plane_answer():
    """An APS-C mode frame (3744 x 2496 on this full-frame sensor) is a 1.5x crop that
    lensfun's body entry cannot know; the focal-plane tags can."""
    crop = resolve_crop_factor(_full_frame_body(3744, 2496))
    assert crop.source == "focal_plane" and crop.value == pytest.approx(1.5, abs=0.02)


def test_a_sensor_larger_than_any_digital_one_is_a_misread_tag(tmp_path):
    """A FLIR thermal camera writes its 10.9 x 8.7 mm sensor's size where the focal-plane
    resolution belongs; read as pixels per mm it is a 0.52 crop, bigger than any digital
    sensor (645 medium format: 0.65). The tag is not believed: the body is unknown, not a
    medium-format camera whose 13 mm lens would be a 7 mm-equivalent fisheye."""
    flir = {"Exif.Image.Make": "FLIR", "Exif.Image.Model": "Duo Pro R", "Exif.Photo.FNumber": "1250/1000",
            "Exif.Photo.FocalLength": "13/1", "Exif.Photo.FocalPlaneXResolution": "10880/1000",
            "Exif.Photo.FocalPlaneYResolution": "8700/1000", "Exif.Photo.FocalPlaneResolutionUnit": "4"}
    photo = make_photo(tmp_path / "thermal.tif", size=(640, 512), exif=flir, fmt="TIFF")
    meta = read_metadata(photo.read_bytes())
    assert meta.focal_plane_x_res == pytest.approx(10.88) and meta.focal_length == 13
    assert resolve_crop_factor(meta, 640, 512) is None
    # the same tags on a real medium-format back (Phase One IQ4: 53.4 mm over 14204 px) are believed
    back = from_exif({"Exif.Photo.FocalPlaneXResolution": "14204000/53400", "Exif.Photo.FocalPlaneYResolution": "10652000/40000",
                      "Exif.Photo.FocalPlaneResolutionUnit": "4", "Exif.Photo.PixelXDimension": "14204",
                      "Exif.Photo.PixelYDimension": "10652"})
    crop = resolve_crop_factor(back)
    assert crop.source == "focal_plane" and crop.value == pytest.approx(0.65, abs=0.01)
    # as is a 35 mm tag saying the same, and what a user sets for a film camera
    tagged = from_exif({"Exif.Photo.FocalLength": "80/1", "Exif.Photo.FocalLengthIn35mmFilm": "52"})
    assert resolve_crop_factor(tagged).value == pytest.approx(0.65)
    assert resolve_crop_factor(from_exif({"Exif.Image.Model": "Linhof"}), overrides={"Linhof": 0.27}).value == 0.27
    assert resolve_crop_factor(from_exif({"Exif.Photo.FocalLength": "80/1", "Exif.Photo.FocalLengthIn35mmFilm": "40"})) is None

"""Pascal VOC segmentation (the VOC2012 devkit layout).

    JPEGImages/<name>                  the images (copies; the original file type is kept)
    SegmentationClass/<stem>.png       palette PNG: class index per pixel (0 background)
    SegmentationObject/<stem>.png      palette PNG: instance index per pixel (0 background)
    Annotations/<stem>.xml             detection XML: one <object> per instance, same order
    ImageSets/Segmentation/{train,val,trainval}.txt and ImageSets/Main/ (the same stems)
    class_names.txt                    _background_, then the classes (as labelme2voc)

Pixel values index VOC's colour map (the devkit's bit-interleaved palette), so the PNGs
look like VOC's own. Classes are the categories in the project's order, 1..N (0 is the
background); instances are numbered 1..K per image in z-order. The XML box is the whole
object's (1-based, inclusive pixel corners, as the devkit writes them), `truncated` and
`difficult` 0, `pose` Unspecified.

What the format cannot hold, and what we do:
- overlaps: one label per pixel, so a later (upper) instance hides what lies under it;
  partly hidden instances are counted in EXPORT_NOTES.txt;
- crowd regions: painted 255 ("void", which VOC's evaluation ignores) in both PNGs and
  left out of the XML;
- more than 254 classes or 254 instances on an image (255 is void): refused;
- category ids, colours, scores, attributes: not kept.

Reading a VOC folder: the images of JPEGImages (the workspace's images folder); classes
from class_names.txt, else from the XML object names in order of appearance, else
"class N"; each instance of SegmentationObject is one annotation (exact polygons) of the
class most of its pixels have in SegmentationClass (else its XML object's name); 255 is
ignored. An image with XML boxes but no segmentation PNG gets rectangles (noted). A PNG
or XML that cannot be read is left out with the file named.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
from PIL import Image

from sam_annotator.io.formats import NOTES_FILE
from sam_annotator.io.formats.common import (
    ExportError,
    Progress,
    annotation_mask,
    annotations_by_image,
    image_source,
    place_image,
    snapshot_of,
    split_names,
    unique_file_name,
)
from sam_annotator.io.formats.report import ImportReport, SkippedEntry
from sam_annotator.io.images import ImageLoadError, image_size, list_images
from sam_annotator.model.document import Document, DocumentError, DocumentSnapshot
from sam_annotator.model.geometry import mask_bbox, mask_to_polygons

NAME = "voc"
TITLE = "Pascal VOC segmentation"
CAN_READ = True
CAN_WRITE = True
SOURCE_KIND = "folder"
WRITE_OPTIONS = frozenset({"val_fraction", "seed", "copy_images"})
READ_OPTIONS: frozenset[str] = frozenset()
VOID = 255
CLASS_NAMES_FILE = "class_names.txt"
BACKGROUND_NAMES = frozenset({"_background_", "background", "__background__"})


def voc_palette() -> list[int]:
    """The VOC devkit's colour map (256 RGB triples, flattened): index bits spread over
    the high bits of R, G and B."""
    palette = []
    for index in range(256):
        r = g = b = 0
        c = index
        for shift in range(7, -1, -1):
            r |= (c & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        palette += [r, g, b]
    return palette


def images_folder(source: str | Path) -> Path:
    """The folder of a VOC dataset's images (what the app opens as its workspace)."""
    return Path(source) / "JPEGImages"


# --- writing ------------------------------------------------------------------------------


def write(
    document: Document | DocumentSnapshot,
    out: str | Path,
    *,
    progress: Progress | None = None,
    val_fraction: float = 0.0,
    seed: int = 0,
    copy_images: bool = True,
) -> list[Path]:
    """Write the dataset under the folder `out`; returns the files written."""
    snapshot = snapshot_of(document)
    if len(snapshot.categories) > VOID - 1:
        raise ExportError(f"VOC holds at most {VOID - 1} classes, the project has "
                          f"{len(snapshot.categories)}")  # fmt: skip
    root = Path(out)
    for folder in ("JPEGImages", "SegmentationClass", "SegmentationObject", "Annotations"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    classes = {c.id: index for index, c in enumerate(snapshot.categories, start=1)}
    names = {c.id: c.name for c in snapshot.categories}
    splits = split_names(snapshot, val_fraction, seed)
    grouped = annotations_by_image(snapshot)
    palette = voc_palette()
    written: list[Path] = []
    taken: dict[tuple[str, str], str] = {}
    stems: dict[str, list[str]] = {"train": [], "val": []}
    hidden = crowd = 0
    for number, image in enumerate(snapshot.images, start=1):
        name = unique_file_name(image, "", taken)
        stem = Path(name).stem
        objects = [a for a in grouped[image.id] if not a.iscrowd]
        if len(objects) > VOID - 1:
            raise ExportError(f"{image.path}: VOC holds at most {VOID - 1} instances per image")
        class_map = np.zeros((image.height, image.width), np.uint8)
        object_map = np.zeros_like(class_map)
        masks = []
        for annotation in grouped[image.id]:
            mask = annotation_mask(annotation, image)
            if annotation.iscrowd:
                class_map[mask] = object_map[mask] = VOID
                crowd += 1
                continue
            masks.append(mask)
            class_map[mask] = classes[annotation.category_id]
            object_map[mask] = len(masks)
        hidden += sum(1 for index, mask in enumerate(masks, 1) if (object_map[mask] != index).any())
        for folder, array in (("SegmentationClass", class_map), ("SegmentationObject", object_map)):
            png = Image.frombytes("P", (image.width, image.height), array.tobytes())
            png.putpalette(palette)
            path = root / folder / f"{stem}.png"
            png.save(path)
            written.append(path)
        xml = root / "Annotations" / f"{stem}.xml"
        labelled = [(names[a.category_id], m) for a, m in zip(objects, masks, strict=True)]
        _write_xml(xml, name, image.width, image.height, labelled)
        written.append(xml)
        source = image_source(snapshot, image)
        if copy_images and source is not None and place_image(source, root / "JPEGImages" / name):
            written.append(root / "JPEGImages" / name)
        stems[splits[image.id]].append(stem)
        if progress is not None:
            progress(number, len(snapshot.images))
    for kind in ("Segmentation", "Main"):
        folder = root / "ImageSets" / kind
        folder.mkdir(parents=True, exist_ok=True)
        lists = {**stems, "trainval": stems["train"] + stems["val"]}
        for split, listed in lists.items():
            path = folder / f"{split}.txt"
            path.write_text("".join(s + "\n" for s in listed), encoding="utf-8")
            written.append(path)
    class_file = root / CLASS_NAMES_FILE
    class_file.write_text(
        "".join(n + "\n" for n in ["_background_", *names.values()]), encoding="utf-8"
    )
    written.append(class_file)
    notes = []
    if hidden:
        notes.append(f"{hidden} instances partly hidden by later ones (VOC: one label per pixel)")
    if crowd:
        notes.append(f"{crowd} crowd regions painted 255 (void) and left out of the XML")
    if notes:
        (root / NOTES_FILE).write_text("".join(n + "\n" for n in notes), encoding="utf-8")
        written.append(root / NOTES_FILE)
    return written


def _write_xml(path: Path, filename: str, width: int, height: int, objects) -> None:
    annotation = ET.Element("annotation")
    ET.SubElement(annotation, "folder").text = "JPEGImages"
    ET.SubElement(annotation, "filename").text = filename
    size = ET.SubElement(annotation, "size")
    for tag, value in (("width", width), ("height", height), ("depth", 3)):
        ET.SubElement(size, tag).text = str(value)
    ET.SubElement(annotation, "segmented").text = "1"
    for name, mask in objects:
        x, y, w, h = mask_bbox(mask)
        item = ET.SubElement(annotation, "object")
        ET.SubElement(item, "name").text = name
        ET.SubElement(item, "pose").text = "Unspecified"
        ET.SubElement(item, "truncated").text = "0"
        ET.SubElement(item, "difficult").text = "0"
        box = ET.SubElement(item, "bndbox")
        corners = (("xmin", x + 1), ("ymin", y + 1), ("xmax", x + w), ("ymax", y + h))
        for tag, value in corners:
            ET.SubElement(box, tag).text = str(int(value))
    ET.indent(annotation)
    ET.ElementTree(annotation).write(path, encoding="utf-8", xml_declaration=False)


# --- reading ------------------------------------------------------------------------------


def read(
    source: str | Path, images_root: str | Path | None = None
) -> tuple[Document, ImportReport]:
    """A VOC folder -> (Document whose images are relative to JPEGImages, report)."""
    root = Path(source)
    jpeg = images_folder(root)
    if not jpeg.is_dir():
        raise ValueError(f"{root}: not a VOC folder (no JPEGImages)")
    report = ImportReport(str(root), NAME)
    document = Document(jpeg)
    class_names = _class_names(root)

    def category_of(name: str) -> int:
        category = document.category_by_name(name)
        if category is None:
            category = document.make_category(name)
            document.insert_category(category)
        return category.id

    for name in class_names[1:]:
        category_of(name)
    for image_path in list_images(jpeg, recursive=False):
        relative = image_path.name
        try:
            width, height = image_size(image_path)
        except (ImageLoadError, OSError, ValueError) as error:
            report.skipped.append(SkippedEntry("images", 0, relative, str(error)))
            continue
        image = document.add_image(relative, width, height)
        stem = image_path.stem
        try:
            xml_names, xml_boxes = _read_xml(root / "Annotations" / f"{stem}.xml")
        except (ET.ParseError, OSError, ValueError) as error:
            report.skipped.append(SkippedEntry("files", 0, f"Annotations/{stem}.xml", str(error)))
            xml_names, xml_boxes = [], []
        objects_png = root / "SegmentationObject" / f"{stem}.png"
        if not objects_png.is_file():
            for index, (name, ring) in enumerate(zip(xml_names, xml_boxes, strict=True)):
                _insert(document, image.id, category_of(name), [ring], report,
                        f"Annotations/{stem}.xml", index)  # fmt: skip
            if xml_boxes:
                report.notes.append(f"{stem}: no segmentation PNG, boxes read as rectangles")
            continue
        try:
            objects = _read_png(objects_png, width, height)
            classes_png = root / "SegmentationClass" / f"{stem}.png"
            classes = _read_png(classes_png, width, height) if classes_png.is_file() else None
        except (OSError, ValueError) as error:
            report.skipped.append(SkippedEntry("files", 0, f"SegmentationObject/{stem}.png",
                                               str(error)))  # fmt: skip
            continue
        for index in (int(v) for v in np.unique(objects) if 0 < v < VOID):
            mask = objects == index
            name = _majority_class(mask, classes, class_names, xml_names, index)
            rings = mask_to_polygons(mask, tolerance=0, min_area=0).polygons
            _insert(document, image.id, category_of(name), rings, report,
                    f"SegmentationObject/{stem}.png", index)  # fmt: skip
    report.images_read = len(document.images())
    report.annotations_read = document.annotation_count()
    return document, report


def _insert(document, image_id, category_id, rings, report, where, index) -> None:
    try:
        document.insert_annotations([document.make_annotation(image_id, category_id, rings)])
    except DocumentError as error:
        report.skipped.append(SkippedEntry("annotations", index, where, str(error)))


def _class_names(root: Path) -> list[str]:
    """[background, class 1, ...] from class_names.txt (or labels.txt); [] without."""
    for name in (CLASS_NAMES_FILE, "labels.txt"):
        path = root / name
        if path.is_file():
            lines = [line.strip() for line in path.read_text("utf-8").splitlines()]
            lines = [line for line in lines if line and line != "__ignore__"]
            if lines and lines[0] not in BACKGROUND_NAMES:
                lines.insert(0, "_background_")
            return lines
    return []


def _read_xml(path: Path) -> tuple[list[str], list[list[float]]]:
    """(object names, box rings in pixels) of a VOC XML file; ([], []) without one."""
    if not path.is_file():
        return [], []
    tree = ET.parse(path)  # noqa: S314 - a local file the user chose, not fetched
    names, rings = [], []
    for item in tree.getroot().iter("object"):
        name = (item.findtext("name") or "").strip()
        box = item.find("bndbox")
        if not name or box is None:
            raise ValueError("an <object> without <name> or <bndbox>")
        x1, y1, x2, y2 = (float(box.findtext(tag) or "nan")
                          for tag in ("xmin", "ymin", "xmax", "ymax"))  # fmt: skip
        names.append(name)
        rings.append([x1 - 1, y1 - 1, x2, y1 - 1, x2, y2, x1 - 1, y2])
    return names, rings


def _read_png(path: Path, width: int, height: int) -> np.ndarray:
    """The index values of a VOC label PNG (HxW uint8)."""
    with Image.open(path) as png:
        if png.mode not in ("P", "L"):
            raise ValueError(f"{path.name}: a {png.mode} image, not an indexed label PNG")
        array = np.asarray(png)
    if array.shape != (height, width):
        raise ValueError(f"{path.name}: {array.shape[1]}x{array.shape[0]} px, its image "
                         f"{width}x{height}")  # fmt: skip
    return array


def _majority_class(mask, classes, class_names, xml_names, index) -> str:
    if classes is not None:
        values = classes[mask]
        values = values[(values > 0) & (values < VOID)]
        if values.size:
            value = int(np.bincount(values).argmax())
            return class_names[value] if value < len(class_names) else f"class {value}"
    if index - 1 < len(xml_names):
        return xml_names[index - 1]
    return "object"

"""``python -m pakati_engine.world``: print the batch generator's throughput at four sizes."""

from pakati_engine.world.batch import images_per_second

if __name__ == "__main__":
    for side in (32, 64, 128, 256):
        print(f"{side}x{side}: {images_per_second(side):.0f} images/s")

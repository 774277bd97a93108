from liveengine.cli import main

if __name__ == "__main__":  # guarded: the render process (spawn) imports this module again
    raise SystemExit(main())

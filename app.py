from camviz.app import build_app, launch

demo = build_app()
launch(demo)

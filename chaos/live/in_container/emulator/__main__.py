from chaos.live.in_container.emulator.main import main

raise SystemExit(main())
